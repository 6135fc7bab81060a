"""End-to-end tests of `python -m keras_adios.train` and `keras_adios.evaluate`.

They start the CLI in subprocesses (TensorFlow backend) on a tiny setting of
the built-in dataset; `.ci/run` runs this file once, not once per backend.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

TINY = [
    "--num_train_images=64",
    "--num_eval_images=32",
    "--batch_size=16",
    "--encoder_widths=8,16",
    "--mask_filters=8",
    "--num_masks=2",
    "--hidden_dim=32",
    "--projection_dim=16",
    "--probe_epochs=2",
    "--num_vis_images=2",
]


def _env():
    return dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")


def _cli(module, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=_env(), capture_output=True, text=True, timeout=timeout,
    )


def test_train_writes_the_run_folder_and_evaluate_reruns_it(tmp_path):
    out = tmp_path / "run"
    result = _cli("keras_adios.train", *TINY, "--epochs=2", f"--output_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("adios.keras", "encoder.keras", "masker.keras", "flags.json",
                 "metrics.json", "metrics.csv", "evaluation.json",
                 "masks/masks_epoch_001.png", "masks/masks_epoch_002.png"):
        assert (out / name).exists(), name
    assert any((out / "tensorboard").rglob("events.out.tfevents*"))
    assert not (out / "backup").exists() or not any((out / "backup").iterdir())
    results = json.loads((out / "evaluation.json").read_text())
    for key in ("linear_probe_accuracy", "knn_accuracy", "kmeans_nmi",
                "mask_foreground_iou", "background_only_fg_accuracy",
                "untrained_linear_probe_accuracy"):
        assert 0.0 <= results[key] <= 1.0, key
    metrics = json.loads((out / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics] == [1, 2]  # 1-based, like the progress bar
    assert {"loss", "masker_loss", "coverage_min", "val_knn_accuracy"} <= set(metrics[-1])
    assert "Linear probe accuracy" in result.stdout
    flags_used = json.loads((out / "flags.json").read_text())
    assert flags_used["num_masks"] == 2 and flags_used["masking"] == "adios"

    # The saved pieces are plain Keras models.
    script = (
        "import keras, numpy as np, keras_adios\n"
        f"e = keras.models.load_model({str(out / 'encoder.keras')!r})\n"
        f"m = keras.models.load_model({str(out / 'masker.keras')!r})\n"
        "x = np.zeros((2, 32, 32, 3), 'float32')\n"
        "print(e(x).shape, m(x).shape)\n"
    )
    check = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True, timeout=300)
    assert "(2, 16) (2, 32, 32, 2)" in check.stdout, check.stderr[-2000:]

    evaluated = _cli("keras_adios.evaluate", f"--run_dir={out}", "--output=" + str(tmp_path / "again.json"))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["knn_accuracy"] == pytest.approx(results["knn_accuracy"], abs=1e-6)


def test_train_resumes_after_a_kill_mid_epoch(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "keras_adios.train", *TINY, "--num_train_images=256",
            "--epochs=3", f"--output_dir={out}"]
    process = subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 600
    metrics = out / "metrics.json"
    while time.time() < deadline and process.poll() is None:
        if metrics.exists() and len(json.loads(metrics.read_text() or "[]")) >= 1:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be interrupted"
    time.sleep(0.5)  # inside the second epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "evaluation.json").exists()

    resumed = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert "Epoch 1/3" not in log  # the first epoch was not redone
    assert "Epoch 3/3" in log
    epochs = [m["epoch"] for m in json.loads(metrics.read_text())]
    assert epochs == [1, 2, 3]
    assert (out / "evaluation.json").exists()


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--masking=magic", "masking"),
        ("--epochs=0", "epochs"),
        ("--dataset=cifar10", "cifar10"),
    ],
)
def test_bad_flag_values_end_in_one_clear_line(tmp_path, flag, message):
    result = _cli("keras_adios.train", *TINY, flag, f"--output_dir={tmp_path}/run",
                  "--data_dir=" + str(tmp_path / "tfds"), timeout=300)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors and message in errors[-1], result.stderr[-2000:]


def test_help_documents_every_flag():
    from keras_adios import experiment

    result = _cli("keras_adios.train", "--helpfull", timeout=120)
    text = result.stdout + result.stderr
    for name in experiment.DEFAULTS:
        assert f"--{name}" in text or f"--[no]{name}" in text, name


def test_evaluate_needs_a_run_folder(tmp_path):
    result = _cli("keras_adios.evaluate", f"--run_dir={tmp_path}", timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "run folder" in result.stderr
