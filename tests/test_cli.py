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


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory):
    """One 2-epoch CLI run, shared by the tests that read its folder and its log."""
    out = tmp_path_factory.mktemp("two_epochs") / "run"
    return _cli("keras_adios.train", *TINY, "--epochs=2", f"--output_dir={out}"), out


def test_train_writes_the_run_folder_and_evaluate_reruns_it(two_epoch_run, tmp_path):
    result, out = two_epoch_run
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

    # The input convention travels with the encoder: encoder_pixels.keras takes
    # images in [0, 1] and gives the features encoder.keras gives after the
    # normalisation recorded in input_convention.json.
    convention = json.loads((out / "input_convention.json").read_text())
    assert convention["image_size"] == 32 and len(convention["mean"]) == len(convention["std"]) == 3
    script = (
        "import json, keras, numpy as np, keras_adios\n"
        f"c = json.load(open({str(out / 'input_convention.json')!r}))\n"
        f"e = keras.models.load_model({str(out / 'encoder.keras')!r})\n"
        f"p = keras.models.load_model({str(out / 'encoder_pixels.keras')!r})\n"
        "x = np.random.default_rng(0).uniform(size=(3, 32, 32, 3)).astype('float32')\n"
        "a = np.asarray(p(x)); b = np.asarray(e((x - np.array(c['mean'])) / np.array(c['std'])))\n"
        "print('maxdiff', float(np.abs(a - b).max()), float(np.abs(b).max()))\n"
    )
    check = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True, timeout=300)
    diff, scale = (float(v) for v in check.stdout.split("maxdiff")[1].split())
    assert diff <= 1e-5 * max(scale, 1.0), check.stdout

    evaluated = _cli("keras_adios.evaluate", f"--run_dir={out}", "--output=" + str(tmp_path / "again.json"))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["knn_accuracy"] == pytest.approx(results["knn_accuracy"], abs=1e-6)
    # The untrained-encoder reference is seeded: the same at training and at evaluate time.
    assert again["untrained_knn_accuracy"] == pytest.approx(results["untrained_knn_accuracy"], abs=1e-6)
    assert again["untrained_linear_probe_accuracy"] == pytest.approx(
        results["untrained_linear_probe_accuracy"], abs=1e-6)

    # Export: a SavedModel that serves the features of encoder_pixels.keras, with
    # its input convention inside; from TensorFlow and from JAX (jax2tf).
    for backend in ("tensorflow", "jax"):
        saved = tmp_path / f"saved_{backend}"
        exported = subprocess.run(
            [sys.executable, "-m", "keras_adios.export", f"--run_dir={out}", f"--output={saved}"],
            env=dict(_env(), KERAS_BACKEND=backend), capture_output=True, text=True, timeout=600)
        assert exported.returncode == 0, exported.stderr[-3000:]
        assert "images 32x32x3 in [0, 1] -> 16 features" in exported.stdout, exported.stdout
        assert json.loads((saved / "input_convention.json").read_text()) == convention
        script = (
            "import keras, numpy as np, tensorflow as tf, keras_adios\n"
            f"p = keras.models.load_model({str(out / 'encoder_pixels.keras')!r})\n"
            f"s = tf.saved_model.load({str(saved)!r})\n"
            "x = np.random.default_rng(1).uniform(size=(5, 32, 32, 3)).astype('float32')\n"
            "a = np.asarray(p(x)); b = s.serve(tf.constant(x)).numpy()\n"
            "print('maxdiff', float(np.abs(a - b).max()), b.shape)\n"
        )
        check = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True,
                               timeout=300)
        assert "(5, 16)" in check.stdout and float(check.stdout.split("maxdiff")[1].split()[0]) <= 1e-4, (
            check.stdout + check.stderr[-2000:])
    refused = subprocess.run(
        [sys.executable, "-m", "keras_adios.export", f"--run_dir={out}", f"--output={tmp_path / 'x'}"],
        env=dict(_env(), KERAS_BACKEND="torch"), capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "KERAS_BACKEND=tensorflow" in refused.stderr, refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr and not (tmp_path / "x").exists()


def _weights(run_dir):
    script = (
        "import keras, numpy as np, keras_adios\n"
        f"m = keras.models.load_model({str(run_dir / 'adios.keras')!r})\n"
        f"np.savez({str(run_dir / 'weights.npz')!r}, *[np.asarray(w) for w in m.get_weights()])\n"
    )
    subprocess.run([sys.executable, "-c", script], env=_env(), check=True, capture_output=True, timeout=300)
    with __import__("numpy").load(run_dir / "weights.npz") as data:
        return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]


def test_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path):
    import numpy as np

    out = tmp_path / "run"
    args = [sys.executable, "-m", "keras_adios.train", *TINY, "--num_train_images=256",
            "--epochs=3", "--monitor_every=3", f"--output_dir={out}"]
    process = subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    metrics = out / "metrics.json"
    while time.time() < deadline and process.poll() is None:
        if metrics.exists() and len(json.loads(metrics.read_text() or "[]")) >= 1:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be interrupted"
    time.sleep(0.5)  # inside the second epoch
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode != 0
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "interrupted:" in stderr and "rerun the same command to resume" in stderr, stderr[-2000:]
    assert not (out / "evaluation.json").exists() and not (out / "encoder.keras").exists()

    resumed = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert "Resuming" in log and "from epoch 2 of 3" in log, log[-3000:]
    assert "Epoch 1/3" not in log  # the first epoch was not redone
    assert [m["epoch"] for m in json.loads(metrics.read_text())] == [1, 2, 3]

    # The same data order and augmentations as a run that was never stopped.
    straight = tmp_path / "straight"
    args[-1] = f"--output_dir={straight}"
    assert subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=900).returncode == 0
    for a, b in zip(_weights(out), _weights(straight)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    first = json.loads((out / "evaluation.json").read_text())
    second = json.loads((straight / "evaluation.json").read_text())
    assert first["knn_accuracy"] == pytest.approx(second["knn_accuracy"], abs=1e-6)


def test_a_finished_run_is_not_retrained_and_other_flags_are_refused(tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--epochs=1", f"--output_dir={out}"]
    assert _cli("keras_adios.train", *args).returncode == 0
    evaluation = (out / "evaluation.json").read_text()
    stamp = (out / "encoder.keras").stat().st_mtime

    again = _cli("keras_adios.train", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "finished run" in again.stderr and "Epoch 1/1" not in again.stdout + again.stderr
    assert (out / "encoder.keras").stat().st_mtime == stamp
    assert (out / "evaluation.json").read_text() == evaluation

    flags_before = (out / "flags.json").read_text()
    other = _cli("keras_adios.train", *args, "--objective=byol", "--num_masks=3")
    assert other.returncode != 0 and "Traceback" not in other.stderr
    assert "holds a run made with other settings" in other.stderr
    assert "--objective: 'simclr' in the folder, 'byol' now" in other.stderr
    assert "--num_masks: 2 in the folder, 3 now" in other.stderr
    assert "--overwrite" in other.stderr
    assert (out / "flags.json").read_text() == flags_before

    fresh = _cli("keras_adios.train", *args, "--objective=byol", "--overwrite")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert json.loads((out / "flags.json").read_text())["objective"] == "byol"
    assert (out / "encoder.keras").stat().st_mtime != stamp


def test_nan_images_are_refused_before_anything_is_written(tmp_path):
    import numpy as np

    images = np.random.default_rng(0).uniform(size=(64, 32, 32, 3)).astype("float32")
    images[7, 1, 2, 0] = np.nan
    path = tmp_path / "data.npz"
    np.savez(path, images=images, labels=np.arange(64) % 4)
    out = tmp_path / "run"
    result = _cli("keras_adios.train", *TINY, f"--dataset=npz:{path}", f"--output_dir={out}", timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "NaN or infinite values in 1 image(s), the first at index 7" in result.stderr
    assert not out.exists()


def test_log_is_one_line_per_epoch_when_not_a_terminal(two_epoch_run):
    result, _ = two_epoch_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert "\x1b[" not in result.stdout and "\r" not in result.stdout  # no redrawn progress bar
    # No TensorFlow C++ start-up lines that read like failures.
    for noise in ("cuInit", "cuda drivers", "oneDNN", "absl::InitializeLog"):
        assert noise not in result.stderr, result.stderr[-2000:]
    assert len([line for line in result.stdout.splitlines() if " - loss: " in line]) == 2


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--masking=magic", "masking"),
        ("--epochs=0", "epochs"),
        ("--dataset=cifar10", "cifar10"),
        ("--batch_size=1000", "--batch_size must be at most the number of training images (64)"),
    ],
)
def test_bad_flag_values_end_in_one_clear_line(tmp_path, flag, message):
    result = _cli("keras_adios.train", *TINY, flag, f"--output_dir={tmp_path}/run",
                  "--data_dir=" + str(tmp_path / "tfds"), timeout=300)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # The whole message follows "error:", however many lines it has.
    assert "error: " in result.stderr, result.stderr[-2000:]
    assert message in result.stderr.split("error: ")[-1], result.stderr[-2000:]


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


def test_an_image_folder_without_splits_and_with_mixed_sizes_trains(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("cats", "dogs")):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(20):
            size = (40, 48) if i % 2 else (36, 36)  # mixed sizes, some not square
            pixels = rng.integers(0, 255, size + (3,), dtype=np.uint8)
            pixels[..., c] = 200
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{i}.png")
    out = tmp_path / "run"
    result = _cli("keras_adios.train", *TINY, f"--dataset=folder:{tmp_path / 'photos'}", "--epochs=1",
                  "--masking=none", "--knn_k=3", f"--output_dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stderr
    assert "holding out 4 of its 40 images for evaluation (--holdout_fraction=0.1, seed 0)" in log, log[-2000:]
    assert "different sizes" in log and "training at 36 px" in log, log[-2000:]
    results = json.loads((out / "evaluation.json").read_text())
    assert 0.0 <= results["knn_accuracy"] <= 1.0
    # keras_adios.evaluate reproduces the same seeded split.
    again = _cli("keras_adios.evaluate", f"--run_dir={out}", "--output=" + str(tmp_path / "again.json"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((tmp_path / "again.json").read_text())["knn_accuracy"] == pytest.approx(
        results["knn_accuracy"], abs=1e-6)
