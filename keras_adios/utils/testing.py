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


def use_two_forward_masker_phase(model):
    """Switches an `ADIOS` model to the two-forward masker phase; returns it.

    The formulation of the official code (and of keras_adios before the
    masks were computed once per step): the encoder phase computes the masks
    without gradients, and the masker phase recomputes them, differentiated
    w.r.t. the masker weights together with its objective. It gives the same
    gradients with one more masker forward per step; the tests use it as the
    reference for the one-forward step, and `benchmarks/throughput.py` times
    it side by side (`--two_forward`).

    Example:

    ```python
    reference = use_two_forward_masker_phase(keras_adios.ADIOS(encoder, masker))
    ```
    """
    from keras_adios.utils.backend_utils import no_grad

    def step_masks(x1, x2):
        with no_grad():
            return model._compute_masks(x1, x2, training=True), None

    def masker_phase(x1, x2, masks, pullback, slots):
        del masks, pullback  # recomputed below
        reference = model._frozen_reference(x1, x2)

        def masker_loss():
            fresh = model._compute_masks(x1, x2, training=True)
            return model._masker_objective(reference, x1, x2, fresh, slots, training=True)

        return model._value_and_grad(masker_loss, model.masker_variables)

    # Instance attributes shadow the methods (bypassing Keras' tracking).
    object.__setattr__(model, "_step_masks", step_masks)
    object.__setattr__(model, "_masker_phase", masker_phase)
    return model
