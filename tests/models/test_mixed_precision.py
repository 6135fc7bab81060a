"""ADIOS under a mixed-precision policy: finite, float32 losses, close to float32 after one step;
float16's dynamic loss scale skips overflowing steps and grows after finite ones."""

import keras
import numpy as np
import pytest

import keras_adios
from harness import view_batch
from harness import weights


def _model(objective="simclr", num_classes=None):
    keras.utils.set_random_seed(0)
    encoder = keras_adios.encoders.SmallResNet(input_shape=(16, 16, 3), widths=(8, 16))
    model = keras_adios.ADIOS(
        encoder,
        keras_adios.layers.MaskGenerator(num_masks=2, filters=8, norm="group"),
        objective=keras_adios.objectives.get(objective, projection_dim=8, hidden_dim=16),
        num_classes=num_classes,
        seed=0,
    )
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(0.01),
        masker_optimizer=keras.optimizers.SGD(0.01),
        probe_optimizer=keras.optimizers.SGD(0.01),
    )
    return model


def _train_one_step(policy, objective):
    keras.config.set_dtype_policy(policy)
    try:
        model = _model(objective)
        initial = weights(model.encoder.trainable_variables)
        logs = model.train_on_batch(view_batch(8, 16), return_dict=True)
        skipped = 0
        while policy == "mixed_float16" and all(
            np.array_equal(w, w0) for w, w0 in zip(weights(model.encoder.trainable_variables), initial)
        ):
            # The first scale (2**15, Keras' default) can overflow float16
            # gradients: that step is skipped and the scale halved; retry.
            skipped += 1
            assert skipped < 10, "the loss scale did not settle"
            assert logs["loss_scale"] == 2.0 ** (16 - skipped), logs
            logs = model.train_on_batch(view_batch(8, 16), return_dict=True)
        masks = model.masker(view_batch(8, 16)[0])
        update = np.concatenate([(w - w0).ravel() for w, w0 in zip(weights(model.encoder.trainable_variables), initial)])
        return logs, weights(model.trainable_variables), masks, update
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
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
    # to 0.99; an unrelated update would be near 0. float16 keeps about 4.
    assert cosine > 0.85, cosine
    # float16 is loss-scaled (the scale the step used is logged); bfloat16 is not.
    assert ("loss_scale" in logs) == (policy == "mixed_float16")


def test_float16_overflow_skips_the_step_and_halves_the_loss_scale():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = _model(num_classes=3)
        scale = model.optimizer.loss_scale
        assert float(keras.ops.convert_to_numpy(scale)) == 2.0**15
        # A scale that overflows the scaled losses' gradients: the whole step
        # (both players, the probe, the statistics) is skipped, and the scale halves.
        scale.assign(2.0**100)
        before = weights(model.variables)
        labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
        logs = model.train_on_batch(view_batch(8, 16), labels, return_dict=True)
        for b, a in zip(before, weights(model.variables)):
            np.testing.assert_array_equal(a, b)
        assert float(keras.ops.convert_to_numpy(scale)) == 2.0**99
        # An overflow is the loss scale's business, not a non-finite loss: NonFiniteGuard stays quiet.
        assert logs["nonfinite"] == 0.0 and np.isfinite(logs["loss"]), logs
        assert logs["loss_scale"] == 2.0**100
        # Back at a usable scale the next step trains every player.
        scale.assign(2.0**10)
        model.train_on_batch(view_batch(8, 16), labels)
        after = weights(model.variables)
        changed = [not np.array_equal(a, b) for a, b in zip(before, after)]
        assert sum(changed) > len(changed) // 2
    finally:
        keras.config.set_dtype_policy("float32")


def test_loss_scale_doubles_after_growth_steps_and_halves_on_overflow():
    group = keras_adios.trainers.OptimizerGroup(
        {"encoder": keras.optimizers.SGD(0.1)}, dynamic_loss_scale=True, initial_scale=8.0,
        dynamic_growth_steps=3,
    )
    group.build()
    scale, counter = group.loss_scale_variables
    values = []
    for finite in (True, True, True, True, False, True):
        group.update_loss_scale(keras.ops.convert_to_tensor(finite))
        values.append((float(keras.ops.convert_to_numpy(scale)), int(keras.ops.convert_to_numpy(counter))))
    assert values == [(8.0, 1), (8.0, 2), (16.0, 0), (16.0, 1), (8.0, 0), (8.0, 1)]
    config = group.get_config()
    assert (config["dynamic_loss_scale"], config["initial_scale"], config["dynamic_growth_steps"]) == (True, 8.0, 3)
    assert keras_adios.trainers.OptimizerGroup.from_config(config).dynamic_growth_steps == 3


def test_a_loss_scale_optimizer_is_refused_with_a_clear_error():
    encoder = keras_adios.encoders.SmallResNet(input_shape=(16, 16, 3), widths=(8,))
    model = keras_adios.ADIOS(encoder, objective=keras_adios.objectives.SimCLR(hidden_dim=8))
    wrapped = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="one loss scale.*inner optimizer.*encoder_optimizer"):
        model.compile(encoder_optimizer=wrapped)


def test_float32_has_no_loss_scale():
    model = _model()
    assert model.optimizer.loss_scale is None
    assert "loss_scale" not in model.train_on_batch(view_batch(8, 16), return_dict=True)
