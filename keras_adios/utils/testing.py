"""Test helpers shared by the test suite (Keras' own `keras.src.testing` is private)."""

import json

import keras
import numpy as np


def assert_allclose(actual, expected, atol=1e-6, rtol=1e-6, msg=""):
    """`np.testing.assert_allclose` on backend tensors or arrays."""
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(actual),
        keras.ops.convert_to_numpy(expected),
        atol=atol,
        rtol=rtol,
        err_msg=msg,
    )


def run_serialization_test(instance):
    """Checks that `get_config` is JSON-able and `from_config` rebuilds an equal config.

    Returns the rebuilt instance.
    """
    config = instance.get_config()
    json.dumps(config)  # must be JSON-serializable
    serialized = keras.saving.serialize_keras_object(instance)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(instance), (type(revived), type(instance))
    assert revived.get_config() == config, (revived.get_config(), config)
    return revived
