"""One ADIOS step gives the same weights on TensorFlow, JAX and PyTorch.

The suite runs once per backend; this test starts all three backends in
subprocesses itself, so `.ci/run` runs this directory only once.
"""

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _run(backend, tmp_path):
    path = str(tmp_path / f"{backend}.npz")
    env = dict(os.environ, KERAS_BACKEND=backend)
    subprocess.run(
        [sys.executable, os.path.join(HERE, "one_step.py"), path],
        env=env, check=True, capture_output=True, text=True, timeout=600,
    )
    return dict(np.load(path))


def test_one_step_matches_across_backends(tmp_path):
    results = {b: _run(b, tmp_path) for b in ("tensorflow", "jax", "torch")}
    reference = results["tensorflow"]
    configs = {key.split("/")[0] for key in reference if not key.startswith("init:")}
    assert configs == {
        f"{o}_{v}" for o in ("simclr", "byol", "simsiam", "vicreg") for v in ("adios", "adios_s")
    }
    for backend in ("jax", "torch"):
        other = results[backend]
        assert set(other) == set(reference), backend
        for key, expected in reference.items():
            np.testing.assert_allclose(
                other[key], expected, rtol=2e-4, atol=2e-5,
                err_msg=f"{backend} differs from tensorflow at {key}",
            )
    # The step really moved the encoder, heads and masker (not a vacuous match).
    for config in configs:
        after = {k: v for k, v in reference.items() if k.startswith(config + "/") and "log:" not in k}
        moved = {k for k, v in after.items() if not np.array_equal(v, reference["init:" + k])}
        assert any("mask_generator" in k for k in moved), config
        assert any("projector" in k for k in moved), config
        assert any("probe" in k for k in moved), config
        assert len(moved) >= len(after) // 2, (config, len(moved), len(after))


def test_keras_files_load_across_backends(tmp_path):
    # Each backend saves its own file and loads those saved before it; the
    # first two are repeated at the end to load the files saved after them.
    for backend in ("tensorflow", "jax", "torch", "tensorflow", "jax"):
        env = dict(os.environ, KERAS_BACKEND=backend)
        subprocess.run(
            [sys.executable, os.path.join(HERE, "save_load.py"), str(tmp_path)],
            env=env, check=True, capture_output=True, text=True, timeout=600,
        )
    backends = ("tensorflow", "jax", "torch")
    for saver in backends:
        expected = np.load(tmp_path / f"{saver}.npz")
        assert np.allclose(expected["masks"].sum(-1), 1.0, atol=1e-5)
        for loader in backends:
            if loader == saver:
                continue
            got = np.load(tmp_path / f"{saver}_loaded_on_{loader}.npz")
            for key in ("features", "masks"):
                np.testing.assert_allclose(
                    got[key], expected[key], rtol=1e-4, atol=1e-5,
                    err_msg=f"{saver} file loaded on {loader}: {key}",
                )
