"""ADIOS under a mixed-precision policy: finite, float32 losses, close to float32 after one step."""

import keras
import numpy as np
import pytest

import keras_adios
from harness import view_batch
from harness import weights


def _train_one_step(policy, objective):
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        encoder = keras_adios.encoders.SmallResNet(input_shape=(16, 16, 3), widths=(8, 16))
        model = keras_adios.ADIOS(
            encoder,
            keras_adios.layers.MaskGenerator(num_masks=2, filters=8, norm="group"),
            objective=keras_adios.objectives.get(objective, projection_dim=8, hidden_dim=16),
            seed=0,
        )
        model.compile(
            encoder_optimizer=keras.optimizers.SGD(0.01),
            masker_optimizer=keras.optimizers.SGD(0.01),
        )
        initial = weights(model.encoder.trainable_variables)
        logs = model.train_on_batch(view_batch(8, 16), return_dict=True)
        masks = model.masker(view_batch(8, 16)[0])
        update = np.concatenate([(w - w0).ravel() for w, w0 in zip(weights(model.encoder.trainable_variables), initial)])
        return logs, weights(model.trainable_variables), masks, update
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16"])
@pytest.mark.parametrize("objective", ["simclr", "vicreg"])
def test_mixed_precision_step_is_finite_and_close_to_float32(policy, objective):
    reference_logs, _, _, reference_update = _train_one_step("float32", objective)
    logs, trained, masks, update = _train_one_step(policy, objective)
    for key, value in logs.items():
        assert np.isfinite(value), (key, value)
    assert logs["nonfinite"] == 0.0
    # The masks (a float32 softmax) still partition every pixel.
    assert keras.backend.standardize_dtype(masks.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(keras.ops.convert_to_numpy(masks)).sum(-1), 1.0, atol=1e-5)
    # The SSL loss is computed in float32 from bfloat16 activations: close, not
    # equal. (The masker's loss includes 1 / sin(pi * coverage), too sensitive
    # to rounding near empty masks for a relative comparison.)
    assert logs["loss"] == pytest.approx(reference_logs["loss"], rel=0.05)
    # Variables stay float32, and one SGD step moves the encoder the same way.
    assert all(w.dtype == np.float32 for w in trained)
    cosine = update @ reference_update / (np.linalg.norm(update) * np.linalg.norm(reference_update))
    # bfloat16 keeps about 3 significant digits; measured 0.89 (torch, VICReg)
    # to 0.99; an unrelated update would be near 0.
    assert cosine > 0.85, cosine


def test_mixed_float16_is_refused_with_a_clear_error():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        encoder = keras_adios.encoders.SmallResNet(input_shape=(16, 16, 3), widths=(8,))
        model = keras_adios.ADIOS(encoder, objective=keras_adios.objectives.SimCLR(hidden_dim=8))
        with pytest.raises(ValueError, match="mixed_float16.*loss scaling.*mixed_bfloat16"):
            model.compile()
    finally:
        keras.config.set_dtype_policy("float32")
