"""Helpers for the distribution tests (imported by path, not a conftest).

Every test here runs its scenario in a subprocess: TensorFlow's logical CPU
devices and JAX's `--xla_force_host_platform_device_count` must be set before
the framework initialises its devices, and multi-worker runs need their own
processes. The subprocesses pick their backend themselves, so these tests
give the same result whatever `KERAS_BACKEND` the suite runs with.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def run_script(script, *args, env=None, timeout=600):
    """Runs `tests/distribute/<script> *args`; fails with its output on error."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, script), *map(str, args)],
        env=full_env, capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{script} {' '.join(map(str, args))} exited with {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def load(path):
    return dict(np.load(path))


def pair(results, config, first, second):
    """Weights and logs of two runs of `config`, matched by position."""
    a = sorted(k for k in results if k.startswith(f"{config}/{first}/"))
    b = sorted(k for k in results if k.startswith(f"{config}/{second}/"))
    assert len(a) == len(b) and a, (config, len(a), len(b))
    weights = [(results[x], results[y]) for x, y in zip(a, b) if "/log:" not in x]
    logs = {x.split("/log:")[1]: (float(results[x]), float(results[y]))
            for x, y in zip(a, b) if "/log:" in x}
    return weights, logs


def assert_pair_close(results, config, first="one", second="two", atol=1e-5, rtol=1e-5):
    """Both runs end with the same weights and report the same metrics."""
    weights, logs = pair(results, config, first, second)
    for i, (x, y) in enumerate(weights):
        np.testing.assert_allclose(x, y, atol=atol, rtol=rtol, err_msg=f"{config} weight {i}")
    assert "loss" in logs
    for name, (x, y) in logs.items():
        np.testing.assert_allclose(x, y, atol=atol, rtol=rtol, err_msg=f"{config} log {name}")
    return weights, logs


def assert_weights_changed(results, config, prefix="one"):
    """The step did something: some weight differs from its initial value."""
    init = sorted(k for k in results if k.startswith(f"{config}/init/"))
    final = sorted(k for k in results if k.startswith(f"{config}/{prefix}/") and "/log:" not in k)
    assert init and len(init) == len(final)
    assert any(not np.allclose(results[a], results[b]) for a, b in zip(init, final))
