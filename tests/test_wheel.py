"""The package as a user installs it: a wheel (and an sdist), not the editable checkout.

`python -m build` makes both from a copy of the repository; the wheel goes
into a fresh virtual environment (the heavy dependencies come from this
environment's site-packages through a `.pth` file, so nothing is downloaded;
the package itself only from the wheel), then `import keras_adios` and the
`keras-adios-train` console script run from outside the source tree.
"""

import glob
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    top_level = {".git", ".venv", "runs", "data", "build", "dist", "guides"}

    def ignore(folder, names):  # checkout-only folders at the top; caches anywhere
        skipped = top_level if os.path.samefile(folder, ROOT) else set()
        return [n for n in names if n in skipped or n == "__pycache__" or n.endswith(".egg-info")]

    shutil.copytree(ROOT, source, ignore=ignore)
    out = base / "dist"
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel",
                           "--outdir", str(out), str(source)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels, sdists = glob.glob(str(out / "*.whl")), glob.glob(str(out / "*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, os.listdir(out)
    return {"base": base, "wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def fresh_venv(built):
    venv = built["base"] / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # The dependencies (TensorFlow, Keras, ...) from this environment, appended after the
    # fresh site-packages; the editable keras_adios of this checkout is not on that path.
    dependencies = [p for p in site.getsitepackages() if os.path.isdir(p)]
    with open(os.path.join(purelib, "zz_dependencies.pth"), "w") as f:
        f.write("\n".join(dependencies) + "\n")
    # This environment's pip installs into the fresh one (console scripts in its bin/).
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
                           "--no-index", built["wheel"]], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"python": python, "purelib": purelib, "venv": venv}


def test_wheel_and_sdist_hold_the_package(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = wheel.read(metadata).decode()
        entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for module in ("models/adios.py", "data/pipeline.py", "trainers/jax_trainer.py", "experiment_settings.py"):
        assert f"keras_adios/{module}" in names, module
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    assert "keras-adios-train = keras_adios.train:run" in entry_points
    for extra in ("jax", "torch", "guides"):
        assert f"Provides-Extra: {extra}" in meta, extra
    assert 'torch==2.13.0; extra == "torch"' in meta
    import tarfile

    with tarfile.open(built["sdist"]) as sdist:
        members = sdist.getnames()
    assert any(m.endswith("keras_adios/experiment_settings.py") for m in members)


def test_the_installed_wheel_imports_and_trains_outside_the_source_tree(fresh_venv, tmp_path):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    env.pop("PYTHONPATH")
    probe = subprocess.run(
        [fresh_venv["python"], "-c",
         "import json, importlib.metadata, keras_adios; print(json.dumps({'file': keras_adios.__file__, "
         "'version': keras_adios.__version__, 'meta': importlib.metadata.version('keras-adios')}))"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    info = json.loads(probe.stdout.strip().splitlines()[-1])
    assert info["file"].startswith(fresh_venv["purelib"]), info  # the wheel's copy, not the checkout
    assert info["version"] == info["meta"]
    script = fresh_venv["venv"] / "bin" / "keras-adios-train"
    assert script.exists()
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [fresh_venv["python"], str(script), "--epochs=1", "--steps_per_epoch=2", "--batch_size=16",
         "--num_train_images=64", "--num_eval_images=32", "--probe_epochs=1", "--num_vis_images=2",
         "--encoder_widths=8", "--mask_filters=8", f"--output_dir={run_dir}", "--verbose=none"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (run_dir / "encoder.keras").exists() and (run_dir / "evaluation.json").exists()
