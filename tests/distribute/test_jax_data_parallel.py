"""JAX: `keras.distribution.DataParallel` over 2 CPU devices equals one device.

The same models as the TensorFlow tests: SimCLR-ADIOS and SimSiam-ADIOS-s
with fixed slots (BatchNorm heads, masks on both views; BYOL is left to the
TensorFlow tests to keep this file short). No gather and no sync-BN switch are
needed: the jitted step sees the global batch, so negatives and BatchNorm
statistics are global. The scenario runs in `jax_data_parallel_step.py`.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dist_helpers import assert_pair_close, assert_weights_changed, load, run_script  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("jax_dp") / "out.npz"
    run_script("jax_data_parallel_step.py", path)
    return load(path)


@pytest.mark.parametrize("config", ["simclr_adios", "simsiam_adios_s"])
def test_data_parallel_matches_one_device(results, config):
    assert "'batch'" in str(results[f"{config}/sharding/two"])  # really distributed
    assert "'batch'" not in str(results[f"{config}/sharding/one"])
    assert_weights_changed(results, config)
    assert_pair_close(results, config)
