"""`keras_adios.layers.BatchNormalization`: Keras' layer, synchronisable on PyTorch too."""

import keras
import numpy as np
import pytest

from harness import run_docstring_example, run_serialization_test
from keras_adios.layers import BatchNormalization


def test_equals_keras_batch_normalization():
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(8, 5)).astype("float32")
    ours, theirs = BatchNormalization(momentum=0.9, epsilon=1e-5), keras.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5)
    ours.build(x.shape), theirs.build(x.shape)
    for training in (True, False):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours(x, training=training)),
            keras.ops.convert_to_numpy(theirs(x, training=training)), atol=1e-6)
    for a, b in zip(ours.weights, theirs.weights):  # moving statistics updated alike
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-6)


def test_synchronized_by_backend(backend):
    if backend == "jax":
        with pytest.raises(ValueError, match="only supported with the TensorFlow backend"):
            BatchNormalization(synchronized=True)
        return
    layer = BatchNormalization(synchronized=True, momentum=0.9)
    assert layer.synchronized is True
    revived = run_serialization_test(layer, {"synchronized": True, "momentum": 0.9})
    assert revived.synchronized is True
    # No process group / one replica: the synchronised statistics are the local ones.
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    plain = BatchNormalization()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x, training=True)), keras.ops.convert_to_numpy(plain(x, training=True)),
        atol=1e-5)


def test_docstring_example_runs():
    run_docstring_example(BatchNormalization)
