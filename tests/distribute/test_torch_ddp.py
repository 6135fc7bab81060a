"""PyTorch: 2 `torch.distributed` processes (torchrun, gloo) equal 1 process on the global batch.

SimCLR (negatives gathered across processes with a gradient-correct all-gather)
with ADIOS and ADIOS-s, and BYOL / SimSiam (BatchNorm in their heads,
synchronised by `use_sync_batchnorm`: `keras_adios.layers.BatchNormalization`
all-reduces its sums) must match one process on the global batch, and every
process must end with the same weights, BatchNorm statistics included. The
scenario runs in `torch_ddp_step.py`.
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dist_helpers import HERE, load, run_script  # noqa: E402

SCRIPT = os.path.join(HERE, "torch_ddp_step.py")


def _run_torchrun(prefix):
    import subprocess

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29561",
         SCRIPT, str(prefix)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    if result.returncode != 0:
        pytest.fail(f"torchrun exited with {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-8000:]}")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch_ddp")
    run_script("torch_ddp_step.py", folder / "one")
    _run_torchrun(folder / "two")
    return {name: load(folder / f"{name}.npz") for name in ("one.rank0", "two.rank0", "two.rank1")}


def _weights(result, config, kind="run"):
    keys = sorted(k for k in result if k.startswith(f"{config}/{kind}/w"))
    assert keys
    return [result[k] for k in keys]


@pytest.mark.parametrize("config", ["simclr_adios", "simclr_adios_s", "byol_adios", "simsiam_adios_s"])
def test_two_processes_match_one_process_on_the_global_batch(results, config):
    one, two = results["one.rank0"], results["two.rank0"]
    assert int(one["world"]) == 1 and int(two["world"]) == 2
    moved = [not np.allclose(a, b) for a, b in zip(_weights(one, config, "init"), _weights(one, config))]
    assert any(moved)
    for i, (a, b) in enumerate(zip(_weights(one, config), _weights(two, config))):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"{config} weight {i}")
    # Global-batch metrics: mask coverages are averaged over both processes.
    for name in ("coverage_min", "coverage_max"):
        np.testing.assert_allclose(two[f"{config}/run/log:{name}"], one[f"{config}/run/log:{name}"], rtol=1e-5)


@pytest.mark.parametrize("config", ["byol_adios", "simsiam_adios_s", "simclr_adios"])
def test_processes_keep_identical_weights(results, config):
    first, second = results["two.rank0"], results["two.rank1"]
    paths = [str(p) for p in first[f"{config}/paths"]]
    assert any("moving_" in p for p in paths) == (config != "simclr_adios")  # BatchNorm statistics too
    for path, a, b in zip(paths, _weights(first, config), _weights(second, config)):
        np.testing.assert_array_equal(a, b, err_msg=f"{config} {path}")
    moved = [not np.allclose(a, b) for a, b in zip(_weights(first, config, "init"), _weights(first, config))]
    assert any(moved)
