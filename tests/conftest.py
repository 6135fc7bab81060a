"""Shared pytest setup: the Keras backend comes from ``KERAS_BACKEND``.

`.ci/run` runs the whole suite once per backend (tensorflow, jax, torch).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The suite compiles hundreds of tiny models, whose run time is mostly XLA's
# compile time (JAX, and TensorFlow's jit_compile). LLVM optimisation level 0
# cuts the CPU time of tests/models on JAX by about a quarter (TensorFlow: 7 %).
# It changes how fast the compiled code runs, not the program XLA compiles (its
# HLO passes still run); the subprocesses the tests start inherit it.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

# `import harness` (tests/harness.py, the shared test harness) from any test.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield
    keras.backend.clear_session()


@pytest.fixture
def backend():
    return keras.backend.backend()
