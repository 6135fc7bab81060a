"""The one table of experiment settings: flags, defaults and validation come from it."""

import pytest
from absl import flags

from keras_adios import experiment
from keras_adios import experiment_settings
from keras_adios.experiment_settings import SETTINGS


def test_every_setting_is_declared_once_with_a_valid_default():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert experiment.DEFAULTS == {s.name: s.default for s in SETTINGS}
    # The defaults pass their own validation.
    assert experiment_settings.resolve_settings({}) == experiment.DEFAULTS
    for s in SETTINGS:
        assert s.kind in ("string", "integer", "float", "boolean", "enum"), s
        assert (s.kind == "enum") == (s.choices is not None), s
        assert s.help, s


def test_flags_come_from_the_table():
    values = flags.FlagValues()
    holders = experiment_settings.define_flags(values)
    assert set(holders) == set(experiment.DEFAULTS)
    values(["prog", "--objective=vicreg", "--num_masks=3", "--noskip_nonfinite", "--verbose=epoch"])
    assert values["objective"].value == "vicreg" and values["num_masks"].value == 3
    assert values["verbose"].value == "epoch"
    with pytest.raises(flags.IllegalFlagValueError):
        values["epochs"].parse("0")  # the table's minimum


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"objective": "moco"}, r"--objective must be one of simclr, byol, simsiam, vicreg\. Received: 'moco'"),
        ({"epochs": 0}, r"--epochs must be >= 1\. Received: 0"),
        ({"epochs": 2.5}, r"--epochs must be an integer\. Received: 2\.5"),
        ({"learning_rate": "fast"}, r"--learning_rate must be a number\. Received: 'fast'"),
        ({"download": "yes"}, r"--download must be true or false\. Received: 'yes'"),
        ({"colour": 1}, r"Unknown settings: \['colour'\]"),
    ],
)
def test_validation_names_the_flag_and_what_was_received(overrides, match):
    with pytest.raises(ValueError, match=match):
        experiment.resolve_settings(overrides)


def test_the_experiment_maps_every_objective_name():
    for name in experiment.OBJECTIVES:
        model = experiment.build_model(
            experiment.resolve_settings({"objective": name, "masking": "none", "hidden_dim": 8,
                                         "projection_dim": 4, "predictor_hidden_dim": 8,
                                         "encoder_widths": "8"}),
            (16, 16, 3), None, total_steps=10,
        )
        assert type(model.objective).__name__.lower() == name


def test_the_vit_tiny_encoder_setting_builds_vit_tiny():
    from keras_adios import encoders, experiment

    settings = experiment.resolve_settings({"encoder": "vit_tiny", "patch_size": 8, "masking": "none"})
    model = experiment.build_model(settings, (32, 32, 3), None)
    assert isinstance(model.encoder, encoders.ViTTiny) and model.encoder.patch_size == 8
    with pytest.raises(ValueError, match="divisible by `patch_size`"):
        experiment.build_model(settings, (36, 36, 3), None)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_the_dtype_policy_setting_builds_a_mixed_model_and_leaves_the_global_policy(policy):
    import keras

    settings = experiment.resolve_settings({"dtype_policy": policy, "encoder_widths": "8",
                                            "hidden_dim": 8, "projection_dim": 4, "mask_filters": 8})
    model = experiment.build_model(settings, (16, 16, 3), 3)
    assert keras.config.dtype_policy().name == "float32"
    assert model.dtype_policy.name == policy
    assert {layer.dtype_policy.name for layer in model.encoder.layers if layer.weights} == {policy}
    model.compile()
    # float16 gets ADIOS' dynamic loss scale, bfloat16 does not need one.
    assert (model.optimizer.loss_scale is not None) == (policy == "mixed_float16")


def test_a_run_folder_resumes_whatever_its_per_view_backward():
    # Run control, not maths: the same gradients either way.
    import json
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as run_dir:
        saved = dict(experiment_settings.DEFAULTS, output_dir=run_dir, per_view_backward=False)
        with open(os.path.join(run_dir, "flags.json"), "w") as f:
            json.dump(saved, f)
        now = dict(saved, per_view_backward=True)
        assert experiment.run_state(now) == ("resume", 0)
        with pytest.raises(ValueError, match="--num_masks"):
            experiment.run_state(dict(now, num_masks=saved["num_masks"] + 1))
