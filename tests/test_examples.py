"""The example scripts: recipe table against the paper's scripts, every --smoke mode.

The scripts run as subprocesses on TensorFlow (as a user would run them); the
recipe table is imported directly (`examples/recipes.py` has no flags).
"""

import importlib.util
import json
import math
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def _load_recipes():
    spec = importlib.util.spec_from_file_location("adios_example_recipes", os.path.join(EXAMPLES, "recipes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


recipes = _load_recipes()


def _run(script, *args, timeout=600):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, script), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def _ok(result):
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result


def _one_error_line(result, *fragments):
    """The command ends with one `error: ...` message (whole, however many lines), no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert starts, result.stderr[-2000:]
    message = "\n".join(lines[starts[-1]:])
    for fragment in fragments:
        assert fragment in message, message


# === The recipe table (the authors' scripts, written here by hand) ===

# (ep, bs, lr, mask_lr, wd, N, fbase, norm, alpha_s, alpha_e, tau, hidden, pred, out, jitter)
PAPER_ROWS = {
    "imagenet100s_simclr": (500, 128, 0.1113, 0.01452, 1e-4, 4, 32, "instance", 0.923, 0.712, 0.2,
                            2048, None, 128, "0.8,0.8,0.8,0.2"),
    "stl10_simclr": (400, 256, 0.1323, 0.01947, 8.5e-5, 6, 128, "group", 0.0, 0.0, 0.2,
                     2048, None, 256, "0.8,0.8,0.8,0.2"),
    "stl10_simsiam": (400, 128, 0.4436, 0.03830, 7.2e-6, 6, 32, "group", 1.0, 0.0, None,
                      2048, 512, 256, "0.552,0.478,0.578,0.2"),
    "imagenet100_byol_s": (400, 128, 0.8088, 0.1295, 1e-5, 6, 32, "group", 1.0, 0.0, None,
                           4096, 8192, 256, "0.5,0.2,0.25,0.05"),
    "imagenet100s_vit_simclr": (300, 128, 0.1157, 0.03340, 1e-4, 6, 16, "group", 0.889, 0.0, 0.2,
                                2048, None, 128, "0.8,0.8,0.8,0.2"),
}
KEYS = ("epochs", "batch_size", "learning_rate", "mask_learning_rate", "weight_decay", "num_masks",
        "mask_filters", "mask_norm", "sparsity_weight", "entropy_weight", "temperature",
        "hidden_dim", "predictor_hidden_dim", "projection_dim", "color_jitter")


@pytest.mark.parametrize("name", sorted(PAPER_ROWS))
def test_recipe_matches_the_authors_script(name):
    settings = recipes.settings(name)
    for key, expected in zip(KEYS, PAPER_ROWS[name]):
        if expected is None:  # BYOL/SimSiam: no temperature; SimCLR: no predictor.
            assert key not in settings, key
        else:
            assert settings[key] == expected, (key, settings[key], expected)
    # Shared by all scripts (§3.1): LARS, 10 warmup epochs from 0.003, ResNet-18.
    assert settings["optimizer"] == "lars"
    assert settings["warmup_epochs"] == 10 and settings["warmup_learning_rate"] == 0.003
    vit = "_vit_" in name
    assert settings["encoder"] == ("vit_tiny" if vit else "resnet18_imagenet")
    assert not vit or settings["patch_size"] == 16


def test_recipe_variants_and_data_settings():
    simsiam = recipes.settings("stl10_simsiam")  # blocks 5; sym F, no T, both F
    assert (simsiam["mask_blocks"], simsiam["simsiam_symmetry_mask"], simsiam["simsiam_no_mask"],
            simsiam["simsiam_both_mask"]) == (5, False, True, False)
    assert simsiam["train_split"] == "train+unlabelled" and simsiam["objective"] == "simsiam"
    assert recipes.settings("imagenet100_simclr_s")["masking"] == "adios_s"
    vit_simsiam = recipes.settings("imagenet100s_vit_simsiam")  # blocks 4; sym F, no F, both T
    assert (vit_simsiam["mask_blocks"], vit_simsiam["simsiam_symmetry_mask"], vit_simsiam["simsiam_no_mask"],
            vit_simsiam["simsiam_both_mask"], vit_simsiam["encoder"]) == (4, False, False, True, "vit_tiny")
    assert recipes.settings("imagenet100s_byol")["crop_size"] == 96
    assert recipes.settings("imagenet100_simsiam_s")["crop_size"] == 224
    cifar = recipes.settings("cifar100_byol")
    assert cifar["encoder"] == "resnet18_cifar" and cifar["dataset"] == "cifar100"
    assert set(recipes.OWN_CHOICE) == {f"cifar{n}_{o}" for n in (10, 100) for o in ("simclr", "byol", "simsiam")}


def test_every_recipe_is_valid_experiment_settings():
    from keras_adios import experiment

    assert len(recipes.RECIPES) == 18
    for name in recipes.RECIPES:
        resolved = experiment.resolve_settings(recipes.settings(name))
        assert resolved["output_dir"] == f"runs/{name}"


def test_unknown_recipe_names_the_available_ones():
    with pytest.raises(ValueError, match="Available recipes: imagenet100s_simclr"):
        recipes.settings("stl10_mae")


def test_experiment_builds_what_the_recipes_ask_for():
    # The experiment settings added for the recipes reach the model, the data and the optimizers.
    from keras_adios import experiment

    settings = experiment.resolve_settings({
        **recipes.settings("stl10_simsiam"), "encoder": "small_resnet", "encoder_widths": "8,16",
        "mask_filters": 8, "hidden_dim": 16, "projection_dim": 8, "predictor_hidden_dim": 8,
    })
    model = experiment.build_model(settings, (32, 32, 3), num_classes=None)
    assert model.masker.num_blocks == 5
    objective = model.objective
    assert (objective.use_symmetry_mask, objective.use_no_mask, objective.use_both_mask) == (False, True, False)
    config = experiment.augmentation_config("stl10", 96, color_jitter=settings["color_jitter"])
    assert (config.brightness, config.contrast, config.saturation, config.hue) == (0.552, 0.478, 0.578, 0.2)
    assert config.mean == (0.4914, 0.4823, 0.4466)  # the STL10 preset otherwise
    optimizer = experiment.make_optimizer(settings, 0.4436, steps_per_epoch=10)
    assert float(optimizer.learning_rate) == pytest.approx(0.003)  # step 0: the warmup's start
    with pytest.raises(ValueError, match="--color_jitter must be 4"):
        experiment.resolve_settings({"color_jitter": "0.4,0.4"})


# === Smoke runs of every script ===


def test_pretrain_recipe_smoke_then_linear_eval_of_its_encoder(tmp_path):
    out = tmp_path / "run"
    result = _ok(_run("pretrain_recipe.py", "--recipe=imagenet100s_simclr", "--smoke", f"--output_dir={out}"))
    for name in ("encoder.keras", "masker.keras", "adios.keras", "metrics.json", "evaluation.json"):
        assert (out / name).exists(), name
    assert list((out / "masks").glob("masks_epoch_*.png"))
    used = json.loads((out / "flags.json").read_text())
    # Method settings come from the recipe; the smoke mode shrinks data and model only.
    assert (used["learning_rate"], used["mask_learning_rate"], used["num_masks"]) == (0.1113, 0.01452, 4)
    assert (used["mask_norm"], used["entropy_weight"], used["optimizer"]) == ("instance", 0.712, "lars")
    assert used["dataset"] == "shapes32" and used["epochs"] == 1
    results = json.loads((out / "evaluation.json").read_text())
    for key in ("linear_probe_accuracy", "knn_accuracy"):
        assert 0.0 <= results[key] <= 1.0
    assert re.search(r"Linear probe accuracy \d\.\d+, kNN accuracy \d\.\d+", result.stdout)

    # The run's encoder.keras, evaluated with the authors' linear protocol (2 epochs).
    result = _ok(_run("linear_eval.py", "--smoke", f"--run_dir={out}"))
    results = json.loads((out / "linear_eval.json").read_text())
    assert results["protocol"] == "augmented" and results["num_train"] == 64
    for key in ("linear_accuracy", "linear_train_accuracy", "knn_accuracy"):
        assert 0.0 <= results[key] <= 1.0, key
    assert "linear accuracy" in result.stdout


def test_pretrain_recipe_smoke_adios_s_with_an_override(tmp_path):
    out = tmp_path / "run"
    _ok(_run("pretrain_recipe.py", "--recipe=imagenet100_simclr_s", "--smoke", f"--output_dir={out}",
             "--num_masks=2"))  # any training-CLI flag overrides the recipe
    used = json.loads((out / "flags.json").read_text())
    assert (used["masking"], used["objective"], used["num_masks"]) == ("adios_s", "simclr", 2)
    assert used["mask_learning_rate"] == 0.4988 and used["color_jitter"] == "0.7,0.6,0.8,0.15"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics and all(math.isfinite(epoch["loss"]) for epoch in metrics)


def test_pretrain_recipe_bad_recipe_is_one_clear_line():
    _one_error_line(_run("pretrain_recipe.py", "--recipe=stl10_mae", timeout=120),
                    "unknown --recipe='stl10_mae'", "stl10_simclr")


def test_pretrain_recipe_missing_dataset_is_one_clear_line(tmp_path):
    result = _run("pretrain_recipe.py", "--recipe=stl10_simclr", f"--data_dir={tmp_path}",
                  f"--output_dir={tmp_path}/run", timeout=300)
    # The whole message, with how to provide the data.
    _one_error_line(result, "stl10", "To provide it, either:", "tfds build stl10", "--dataset=folder:PATH")


def test_pretrain_recipe_list():
    result = _ok(_run("pretrain_recipe.py", "--list", timeout=120))
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(recipes.RECIPES)
    assert sum("(our choice)" in line for line in lines) == 6


def test_linear_eval_smoke_on_fixed_features(tmp_path):
    output = tmp_path / "le.json"
    _ok(_run("linear_eval.py", "--smoke", "--noaugment", f"--output={output}"))
    results = json.loads(output.read_text())
    assert results["protocol"] == "features" and results["num_classes"] == 10
    assert 0.0 <= results["linear_accuracy"] <= 1.0


def test_linear_eval_needs_an_encoder(tmp_path):
    _one_error_line(_run("linear_eval.py", f"--encoder_path={tmp_path}/missing.keras", timeout=120),
                    "missing.keras")


def test_tpu_pretrain_smoke(tmp_path):
    result = _ok(_run("tpu_pretrain.py", "--smoke", f"--model_dir={tmp_path}"))
    assert (tmp_path / "encoder.weights.h5").exists()
    line = [x for x in result.stdout.splitlines() if x.startswith("final loss")][-1]
    assert math.isfinite(float(line.split()[2].rstrip(";")))


def test_multi_worker_pretrain_smoke(tmp_path):
    result = _ok(_run("multi_worker_pretrain.py", "--smoke", f"--model_dir={tmp_path}"))
    assert "identical weights: True" in result.stdout
    assert (tmp_path / "weights_worker0.npz").exists() and (tmp_path / "weights_worker1.npz").exists()
    assert (tmp_path / "encoder.weights.h5").exists()


def test_torch_multiprocess_pretrain_smoke(tmp_path):
    result = _ok(_run("torch_multiprocess_pretrain.py", "--smoke", f"--model_dir={tmp_path}"))
    assert "2 processes, identical trainable weights" in result.stdout, result.stdout
    assert (tmp_path / "weights_rank0.npz").exists() and (tmp_path / "weights_rank1.npz").exists()
    assert (tmp_path / "encoder.keras").exists()
