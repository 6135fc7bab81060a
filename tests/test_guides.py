"""Executes every guide notebook (smoke size) with nbclient and checks its outputs.

The kernel is this test's own interpreter: a kernelspec written to a
temporary folder runs `sys.executable -m ipykernel_launcher`, so a `python3`
kernelspec of another environment can never be picked up. Each notebook runs
in a temporary working directory with `KERAS_ADIOS_GUIDE_SMOKE=1` and
`KERAS_BACKEND=tensorflow`.
"""

import json
import os
import re
import subprocess
import sys

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDES = os.path.join(ROOT, "guides")
NAMES = ("01_getting_started", "02_objectives_and_masking", "03_your_own_data", "04_scaling_out")
ACCURACY = re.compile(r"([A-Za-z][A-Za-z -]*accuracy): (-?\d+\.\d+)")


def _kernel_manager(tmp_path):
    kernels = tmp_path / "kernels" / "keras-adios-guide"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "keras_adios tests", "language": "python",
    }))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name="keras-adios-guide", kernel_spec_manager=specs)


def execute(name, tmp_path, monkeypatch):
    """Runs guides/<name>.ipynb; returns (notebook, text output, number of images, working dir)."""
    monkeypatch.setenv("KERAS_ADIOS_GUIDE_SMOKE", "1")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.read(os.path.join(GUIDES, f"{name}.ipynb"), as_version=4)
    client = NotebookClient(
        nb, km=_kernel_manager(tmp_path), timeout=600, allow_errors=False,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()  # raises CellExecutionError on any error
    text, images = [], 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text.append(output["text"])
            elif "data" in output:
                images += "image/png" in output["data"]
                text.append(output["data"].get("text/plain", ""))
    return nb, "\n".join(text), images, work


def _accuracies(text):
    found = {name.strip(): float(value) for name, value in ACCURACY.findall(text)}
    for name, value in found.items():
        assert 0.0 <= value <= 1.0, (name, value)
    return found


def test_notebooks_are_stripped_and_match_their_sources():
    result = subprocess.run([sys.executable, os.path.join(GUIDES, "_build.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in NAMES:
        nb = nbformat.read(os.path.join(GUIDES, f"{name}.ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), name
        assert any(c.cell_type == "markdown" for c in nb.cells)


def test_the_kernel_is_this_interpreter(tmp_path):
    km = _kernel_manager(tmp_path)
    assert km.kernel_spec.argv[0] == sys.executable


def test_getting_started(tmp_path, monkeypatch):
    _, text, images, work = execute("01_getting_started", tmp_path, monkeypatch)
    found = _accuracies(text)
    for key in ("linear probe accuracy", "kNN accuracy", "fine-tuned accuracy", "from-scratch accuracy"):
        assert key in found, (key, sorted(found))
    assert "untrained encoder: linear probe accuracy" in text
    assert images >= 5  # samples, views, untrained masks, trained masks, curves
    assert list((work / "runs" / "guide01" / "masks").glob("masks_epoch_*.png"))
    assert re.search(r"sum over the 4 masks at every pixel: 1\.0", text), "masks must partition"


def test_objectives_and_masking(tmp_path, monkeypatch):
    _, text, images, _ = execute("02_objectives_and_masking", tmp_path, monkeypatch)
    rows = re.findall(r"^\s+(\S+)\s+kNN accuracy: (\d\.\d+)\s+seconds per step: (\d+\.\d+)", text, re.M)
    names = [name for name, _, _ in rows]
    for expected in ("simclr", "byol", "simsiam", "adios_s", "random", "block", "none",
                     "N=2", "N=6", "sparsity_weight=0.0", "sparsity_weight=4.0", "mask_lr=0.0001", "mask_lr=0.01"):
        assert expected in names, (expected, names)
    assert all(0.0 <= float(acc) <= 1.0 and float(t) > 0 for _, acc, t in rows)
    assert images >= 5  # cost bars, mask pictures, three sweep plots


def test_your_own_data(tmp_path, monkeypatch):
    _, text, images, work = execute("03_your_own_data", tmp_path, monkeypatch)
    run = work / "runs" / "guide03"
    for path in ("encoder.keras", "adios.keras", "encoder_savedmodel/saved_model.pb"):
        assert (run / path).exists(), path
    assert "DatasetNotFoundError:" in text
    diffs = [float(x) for x in re.findall(r"max (?:feature )?difference(?: to Keras)?: (\S+)", text)]
    assert len(diffs) == 2 and max(diffs) < 1e-4, diffs
    assert "classifier with learned occlusion, val accuracy" in text and "val accuracy" in _accuracies(text)
    assert images >= 4  # folder samples, views, learned occlusion, saliency


def test_scaling_out(tmp_path, monkeypatch):
    _, text, _, _ = execute("04_scaling_out", tmp_path, monkeypatch)
    assert "replicas in sync: 2" in text
    diff = float(re.search(r"largest weight difference after one step: (\S+)", text).group(1))
    assert diff < 1e-4
    losses = re.search(r"loss: 2 replicas (\S+), 1 device (\S+)", text)
    assert abs(float(losses.group(1).rstrip(",")) - float(losses.group(2))) < 1e-4
