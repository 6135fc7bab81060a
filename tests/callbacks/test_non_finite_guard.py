"""A NaN pixel must stop training loudly, or be skipped exactly when asked (every backend)."""

import keras
import numpy as np
import pytest

import keras_adios
from harness import weights
from keras_adios.callbacks import NonFiniteError
from keras_adios.callbacks import NonFiniteGuard

SIZE = 16


def _model(skip=False, masker=True):
    encoder = keras_adios.encoders.SmallResNet(input_shape=(SIZE, SIZE, 3), widths=(8,))
    model = keras_adios.ADIOS(
        encoder,
        keras_adios.layers.MaskGenerator(num_masks=2, filters=8) if masker else None,
        objective=keras_adios.objectives.SimCLR(hidden_dim=16, projection_dim=8),
        skip_nonfinite=skip,
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
