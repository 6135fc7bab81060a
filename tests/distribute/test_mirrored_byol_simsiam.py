"""BYOL-, SimSiam- and VICReg-ADIOS under 2 MirroredStrategy replicas equal one device.

The encoder has no BatchNorm, but the BYOL/SimSiam heads do: both runs use
`keras_adios.distribute.use_sync_batchnorm`, so the 2-replica run normalises
with global-batch statistics, as one device does (with per-replica BatchNorm
the statistics, hence the weights, legitimately differ). SimSiam runs as
ADIOS-s with fixed slots. VICReg's variance and covariance terms are statistics
of the global batch (`cross_replica_gather`): the gradients only match one
device if the gather's backward sums over replicas. The scenario runs in
`mirrored_step.py`.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dist_helpers import assert_pair_close, assert_weights_changed, load, run_script  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("mirrored_byol_simsiam") / "out.npz"
    run_script("mirrored_step.py", path, "byol_adios", "simsiam_adios_s", "vicreg_adios")
    return load(path)


@pytest.mark.parametrize("config", ["byol_adios", "simsiam_adios_s", "vicreg_adios"])
def test_two_replicas_match_one_device(results, config):
    assert_weights_changed(results, config)
    assert_pair_close(results, config)
