"""A NaN pixel must stop training loudly, or be skipped exactly when asked (every backend).

`ADIOS.fit` guards itself by default (`nonfinite="raise"`): no callback is
needed for the error, and the model keeps the weights of the last finite step.
"""

import keras
import numpy as np
import pytest

import keras_adios
from harness import weights
from keras_adios.callbacks import NonFiniteError
from keras_adios.callbacks import NonFiniteGuard

SIZE = 16


def _model(skip=False, masker=True, nonfinite="raise", encoder=None, num_classes=None):
    encoder = encoder or keras_adios.encoders.SmallResNet(input_shape=(SIZE, SIZE, 3), widths=(8,))
    model = keras_adios.ADIOS(
        encoder,
        keras_adios.layers.MaskGenerator(num_masks=2, filters=8) if masker else None,
        objective=keras_adios.objectives.SimCLR(hidden_dim=16, projection_dim=8),
        nonfinite=nonfinite,
        skip_nonfinite=skip,
        num_classes=num_classes,
        seed=0,
    )
    model.compile(
        encoder_optimizer=keras.optimizers.Adam(1e-3),
        masker_optimizer=keras.optimizers.Adam(1e-3),
    )
    return model


def _views(nan_batch=None, n=16):
    rng = np.random.default_rng(0)
    x1, x2 = (rng.normal(size=(n, SIZE, SIZE, 3)).astype("float32") for _ in range(2))
    if nan_batch is not None:
        x1[nan_batch * 4 + 1, 3, 5, 0] = np.nan  # one pixel of one image of that batch
    return x1, x2


def test_one_nan_pixel_stops_training_with_a_clear_error(tmp_path):
    model = _model()
    x1, x2 = _views(nan_batch=1)
    with pytest.raises(NonFiniteError, match=rf"epoch 1, step 2: .*nonfinite=.*{tmp_path}"):
        model.fit((x1, x2), batch_size=4, epochs=2, verbose=0, shuffle=False,
                  callbacks=[NonFiniteGuard(run_dir=str(tmp_path))])


def test_without_the_guard_the_step_reports_nonfinite():
    model = _model()
    x1, x2 = _views(nan_batch=0, n=4)
    logs = model.train_on_batch((x1, x2), return_dict=True)
    assert logs["nonfinite"] == 1.0
    clean = _model()
    assert clean.train_on_batch(_views(n=4), return_dict=True)["nonfinite"] == 0.0


@pytest.mark.parametrize("masker", [True, False], ids=["adios", "no_masker"])
def test_skip_nonfinite_leaves_the_weights_of_a_bad_batch_unchanged(masker):
    bad = _model(skip=True, masker=masker)
    good = _model(skip=True, masker=masker)
    good.set_weights(bad.get_weights())
    x1, x2 = _views(n=8)
    nan1 = x1.copy()
    nan1[5, 0, 0, 0] = np.nan
    # Step 1 on a clean batch for both; step 2: `bad` gets a NaN pixel, then
    # a clean step again: `bad` must equal a model that never saw batch 2.
    bad.train_on_batch((x1[:4], x2[:4]))
    good.train_on_batch((x1[:4], x2[:4]))
    logs = bad.train_on_batch((nan1[4:], x2[4:]), return_dict=True)
    assert logs["nonfinite"] > 0
    for a, b in zip(weights(bad.weights), weights(good.weights)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(weights(bad.optimizer.variables), weights(good.optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    assert all(np.all(np.isfinite(w)) for w in weights(bad.weights))


def test_guard_counts_skipped_steps_and_lets_training_continue():
    model = _model(skip=True)
    x1, x2 = _views(nan_batch=1)
    guard = NonFiniteGuard()
    with pytest.warns(UserWarning, match="1 step"):
        history = model.fit((x1, x2), batch_size=4, epochs=1, verbose=0, shuffle=False,
                            callbacks=[guard]).history
    assert guard.skipped_steps == 1
    assert history["nonfinite"][0] == pytest.approx(0.25)
    assert all(np.all(np.isfinite(w)) for w in weights(model.weights))


class SqrtOffset(keras.layers.Layer):
    """Features + sqrt(w) with w = 0: a finite loss whose gradient w.r.t. w is infinite."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="w")

    def call(self, x):
        return x + keras.ops.sqrt(self.w)


def _sqrt_encoder():
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(4, 3),
        keras.layers.GlobalAveragePooling2D(),
        SqrtOffset(),
    ])


def _last_finite_reference(bad_model, x1, x2, steps):
    """A copy of `bad_model` trained on the first `steps` clean batches only."""
    good = _model(masker=bad_model.masker is not None, encoder=keras.models.clone_model(bad_model.encoder),
                  num_classes=bad_model.num_classes)
    good.set_weights(bad_model.get_weights())
    for i in range(steps):
        good.train_on_batch((x1[4 * i:4 * i + 4], x2[4 * i:4 * i + 4]))
    return good


def _assert_same_state(a, b):
    for u, v in zip(weights(a.weights), weights(b.weights)):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)
    for u, v in zip(weights(a.optimizer.variables), weights(b.optimizer.variables)):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def test_fit_stops_by_default_at_a_nan_pixel_with_the_last_finite_weights():
    model = _model(num_classes=3)
    x1, x2 = _views(nan_batch=1)
    labels = np.arange(16) % 3
    reference = _model(num_classes=3)
    reference.set_weights(model.get_weights())
    reference.train_on_batch((x1[:4], x2[:4]), labels[:4])
    with pytest.raises(NonFiniteError, match=r"epoch 1, step 2: .*nonfinite=.*last finite step"):
        model.fit((x1, x2), labels, batch_size=4, epochs=2, verbose=0, shuffle=False)  # no callbacks given
    _assert_same_state(model, reference)
    assert all(np.all(np.isfinite(w)) for w in weights(model.weights))


def test_fit_stops_at_an_infinite_gradient_behind_a_finite_loss():
    model = _model(masker=False, encoder=_sqrt_encoder())
    x1, x2 = _views()
    logs = _model(masker=False, encoder=_sqrt_encoder(), nonfinite="ignore").train_on_batch(
        (x1[:4], x2[:4]), return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["nonfinite"] == 1.0  # the loss hides it
    before = weights(model.weights)
    with pytest.raises(NonFiniteError, match=r"epoch 1, step 1: .*nonfinite="):
        model.fit((x1, x2), batch_size=4, verbose=0, shuffle=False)
    for u, v in zip(weights(model.weights), before):  # step 1 reverted: the initial weights
        np.testing.assert_array_equal(u, v)


def test_fit_stops_at_a_nan_batch_without_labels():
    model = _model()
    x1, x2 = _views()
    x2[8:12] = np.nan  # the whole third batch
    reference = _last_finite_reference(model, x1, x2, steps=2)
    with pytest.raises(NonFiniteError, match=r"epoch 1, step 3: "):
        model.fit((x1, x2), batch_size=4, verbose=0, shuffle=False)
    _assert_same_state(model, reference)


def test_nonfinite_ignore_is_keras_plain_behaviour():
    model = _model(nonfinite="ignore")
    x1, x2 = _views(nan_batch=0)
    history = model.fit((x1, x2), batch_size=4, epochs=1, verbose=0, shuffle=False).history
    assert history["nonfinite"][0] == 1.0  # reported, not acted on
    assert not all(np.all(np.isfinite(w)) for w in weights(model.trainable_weights))


def test_nonfinite_setting_is_validated_and_serialized():
    assert _model(skip=True).nonfinite == "skip" and _model(skip=True).skip_nonfinite
    assert _model().get_config()["nonfinite"] == "raise" and not _model().skip_nonfinite
    restored = keras_adios.ADIOS.from_config(_model(nonfinite="ignore").get_config())
    assert restored.nonfinite == "ignore"
    with pytest.raises(ValueError, match=r"raise.*Received: nonfinite='stop'"):
        _model(nonfinite="stop")
    with pytest.raises(ValueError, match="contradicts"):
        _model(skip=True, nonfinite="ignore")


def test_tf_data_labels_out_of_range_are_refused_as_they_stream():
    import tensorflow as tf

    model = _model(num_classes=3)
    x1, x2 = _views()
    labels = np.array([0, 1, 2, 0] * 3 + [0, 3, 1, 2], "int32")  # a 3 in the last batch
    data = tf.data.Dataset.from_tensor_slices(((x1, x2), labels)).batch(4)
    with pytest.raises(Exception, match=r"below num_classes=3.*largest label is.*3"):
        model.fit(data, epochs=1, verbose=0)
    fine = tf.data.Dataset.from_tensor_slices(((x1, x2), labels % 3)).batch(4)
    assert np.isfinite(model.fit(fine, epochs=1, verbose=0).history["loss"][0])
