"""The per-view backward (one masked view back-propagated at a time, both phases) against the joint one.

Same initial weights, same batches: after two steps (the second also checks
the optimizer state), every weight, BatchNorm statistic and logged loss of
`per_view_backward=True` equals that of `per_view_backward=False` (one
backward through the whole sum in each phase, as the authors' code does), up
to float rounding. (`tests/models/test_adios.py` compares the default step,
per view, with the authors' two-forward step, `harness.TwoForwardADIOS`; the
distributed tests compare it on replicas.)
"""

import keras
import numpy as np
import pytest

import keras_adios
from harness import assert_allclose
from harness import assert_same_weights
from harness import compile_with_sgd
from harness import view_batch
from harness import weights
from keras_adios.layers import MaskGenerator

SIZE = 16
BATCH = 8
NUM_MASKS = 3


def _objective(name):
    heads = {"hidden_dim": 16, "projection_dim": 8}
    if name == "simclr":
        return keras_adios.objectives.SimCLR(temperature=0.5, **heads)
    if name == "byol":
        return keras_adios.objectives.BYOL(predictor_hidden_dim=16, total_steps=10, **heads)
    if name == "simsiam":  # masks both views: two masked views per term
        return keras_adios.objectives.SimSiam(predictor_hidden_dim=8, **heads)
    return keras_adios.objectives.VICReg(**heads)


def make_model(objective_name, single_mask, lean):
    """A compiled ADIOS with a BatchNorm encoder and NumPy-drawn weights (identical when rebuilt)."""
    keras.utils.set_random_seed(0)
    model = keras_adios.ADIOS(
        keras_adios.encoders.SmallResNet(input_shape=(SIZE, SIZE, 3), widths=(8,)),
        MaskGenerator(num_masks=NUM_MASKS, filters=8, norm="group"),
        objective=_objective(objective_name),
        single_mask=single_mask,
        num_classes=4,
        seed=3,
        per_view_backward=lean,
    )
    rng = np.random.default_rng(1)
    model.set_weights([
        rng.normal(0.0, 0.2, size=tuple(v.shape)).astype(v.dtype) if v.trainable
        else np.asarray(keras.ops.convert_to_numpy(v))
        for v in model.weights
    ])
    return compile_with_sgd(model)


def train_two_steps(model):
    logs = None
    for seed in (0, 1):
        data, labels = view_batch(BATCH, SIZE, seed=seed, num_classes=4)
        logs = model.train_on_batch(data, labels, return_dict=True)
    return logs


@pytest.mark.parametrize(
    "objective_name, single_mask",
    [("simclr", False), ("simclr", True), ("byol", False), ("simsiam", False), ("vicreg", True)],
    ids=["simclr-adios", "simclr-adios_s", "byol-adios", "simsiam-adios", "vicreg-adios_s"],
)
def test_per_view_backward_gives_the_weights_of_the_joint_one(objective_name, single_mask):
    lean = make_model(objective_name, single_mask, lean=True)
    joint = make_model(objective_name, single_mask, lean=False)
    initial = weights(joint.weights)
    for a, b in zip(weights(lean.weights), initial):
        np.testing.assert_array_equal(a, b)
    lean_logs, joint_logs = train_two_steps(lean), train_two_steps(joint)
    for key in ("loss", "masker_loss", "sparsity_penalty", "probe_loss"):
        assert_allclose(lean_logs[key], joint_logs[key], atol=1e-4, rtol=1e-4, msg=key)
    assert_same_weights(lean, joint, atol=5e-5)
    # Not vacuous: the encoder and the masker moved, by far more than the tolerance.
    for variables in (joint.encoder.trainable_variables, joint.masker.trainable_variables):
        paths = {v.path for v in variables}
        moved = max(np.max(np.abs(a - b)) for v, a, b in zip(joint.weights, weights(joint.weights), initial)
                    if v.path in paths)
        assert moved > 2e-4, moved


def test_per_view_backward_is_the_default_and_in_the_config():
    model = make_model("simclr", single_mask=False, lean=True)
    assert keras_adios.ADIOS(model.encoder, model.masker).per_view_backward is True
    off = make_model("simclr", single_mask=False, lean=False)
    assert off.get_config()["per_view_backward"] is False
    assert keras_adios.ADIOS.from_config(off.get_config()).per_view_backward is False
    with pytest.raises(ValueError, match="per_view_backward"):
        keras_adios.ADIOS(model.encoder, model.masker, per_view_backward="yes")
