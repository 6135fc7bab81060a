"""Shared pytest setup: the Keras backend comes from ``KERAS_BACKEND``.

`.ci/run` runs the whole suite once per backend (tensorflow, jax, torch).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
