"""Behaviour of the ADIOS model: the min-max game, its variants, I/O, errors."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_adios
from harness import TwoForwardADIOS
from harness import assert_allclose
from harness import assert_same_weights
from harness import compile_with_sgd
from harness import quick_jit_compile
from harness import tiny_encoder
from harness import view_batch
from harness import weights
from keras_adios import losses
from keras_adios.layers import MaskGenerator
from keras_adios.layers import RandomPatchMasker

SIZE = 16
BATCH = 8
NUM_MASKS = 3


def objective(name, total_steps=100):
    if name == "simclr":
        return keras_adios.objectives.SimCLR(temperature=0.5, hidden_dim=16, projection_dim=8)
    if name == "byol":
        return keras_adios.objectives.BYOL(
            hidden_dim=16, projection_dim=8, predictor_hidden_dim=16, total_steps=total_steps
        )
    return keras_adios.objectives.SimSiam(hidden_dim=16, projection_dim=8, predictor_hidden_dim=8)


def make_model(objective_name="simclr", masker="learned", single_mask=False, num_classes=None,
               cls=keras_adios.ADIOS, **kwargs):
    # The encoder has no BatchNorm: train- and inference-mode passes agree, so
    # losses measured with `test_on_batch` are the ones the step optimises.
    if masker == "learned":
        masker = MaskGenerator(num_masks=NUM_MASKS, filters=8, norm="none")
    kwargs.setdefault("objective", objective(objective_name))
    return cls(
        tiny_encoder(),
        masker,
        single_mask=single_mask,
        num_classes=num_classes,
        seed=3,
        **kwargs,
    )


def batch(seed=0, labels=False):
    return view_batch(BATCH, SIZE, seed=seed, num_classes=4 if labels else None)


def assert_same(before, after):
    for b, a in zip(before, after):
        np.testing.assert_array_equal(b, a)


def assert_changed(before, after):
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))


def sgd(lr):
    return keras.optimizers.SGD(learning_rate=lr)


def train_mode_logs(model, data):
    """The step's losses on `data` in training mode (BatchNorm on batch
    statistics, as the step sees them), with every update discarded."""
    model.reset_metrics()
    with keras.StatelessScope():
        logs = model._adios_test_step(data, training=True)
        return {k: float(ops.convert_to_numpy(v)) for k, v in logs.items()}


def test_masks_partition_every_pixel():
    model = make_model()
    masks = ops.convert_to_numpy(model.masker(batch()[0]))
    assert masks.shape == (BATCH, SIZE, SIZE, NUM_MASKS)
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    np.testing.assert_allclose(masks.sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("objective_name", ["simclr", "byol", "simsiam"])
def test_encoder_phase_lowers_encoder_loss_on_the_batch(objective_name):
    model = make_model(objective_name)
    model.compile(encoder_optimizer=sgd(0.005), masker_optimizer=sgd(0.0), jit_compile=quick_jit_compile())
    data = batch()
    before = train_mode_logs(model, data)["loss"]
    model.train_on_batch(data)
    after = train_mode_logs(model, data)["loss"]
    assert after < before, (before, after)


@pytest.mark.parametrize("objective_name", ["simclr", "byol", "simsiam"])
def test_masker_phase_raises_masker_objective_on_the_batch(objective_name):
    model = make_model(objective_name)
    model.compile(encoder_optimizer=sgd(0.0), masker_optimizer=sgd(0.005), jit_compile=quick_jit_compile())
    data = batch()
    # masker_loss is minus the objective the masker maximises.
    before = -train_mode_logs(model, data)["masker_loss"]
    model.train_on_batch(data)
    after = -train_mode_logs(model, data)["masker_loss"]
    assert after > before, (before, after)


@pytest.mark.parametrize("objective_name", ["simclr", "byol", "simsiam"])
def test_masker_phase_does_not_change_the_encoder(objective_name):
    model = make_model(objective_name)
    model.compile(encoder_optimizer=sgd(0.0), masker_optimizer=sgd(0.1), jit_compile=quick_jit_compile())
    encoder_before = weights(model.encoder_variables)
    masker_before = weights(model.masker_variables)
    model.train_on_batch(batch())
    assert_same(encoder_before, weights(model.encoder_variables))
    assert_changed(masker_before, weights(model.masker_variables))


def test_encoder_phase_does_not_change_the_masker():
    model = make_model("simclr")
    model.compile(encoder_optimizer=sgd(0.1), masker_optimizer=sgd(0.0), jit_compile=quick_jit_compile())
    encoder_before = weights(model.encoder_variables)
    masker_before = weights(model.masker_variables)
    model.train_on_batch(batch())
    assert_changed(encoder_before, weights(model.encoder_variables))
    assert_same(masker_before, weights(model.masker_variables))


class _GradientRecorder(keras_adios.ADIOS):
    """Also differentiates each phase's loss w.r.t. the *other* player.

    The masker phase differentiates w.r.t. the masks (`inputs`) only and
    pulls the result back to the masker weights; it is recognised by its
    empty `variables`. (The lean encoder phase differentiates each masked
    view's term w.r.t. the encoder and the unmasked embeddings, `inputs`.)
    """

    def _value_and_grad(self, loss_fn, variables, inputs=()):
        ids = {id(v) for v in variables}
        others = [v for v in self.masker_variables + self.encoder_variables if id(v) not in ids]
        loss, aux, grads = super()._value_and_grad(loss_fn, list(variables) + others, inputs)
        phase = "encoder" if variables else "masker"
        start = len(variables)
        self._recorded.append((phase, [ops.convert_to_numpy(g) for g in grads[start : start + len(others)]]))
        return loss, aux, grads[:start] + grads[start + len(others) :]


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "joint"])
@pytest.mark.parametrize("objective_name", ["simclr", "byol", "simsiam"])
def test_encoder_phase_gradients_do_not_reach_the_masker(objective_name, lean):
    model = _GradientRecorder(
        tiny_encoder(), MaskGenerator(num_masks=NUM_MASKS, filters=8, norm="none"),
        objective=objective(objective_name), per_view_backward=lean,
    )
    object.__setattr__(model, "_recorded", [])
    model.compile(encoder_optimizer=sgd(0.01), masker_optimizer=sgd(0.01), run_eagerly=True)
    model.train_on_batch(batch())
    encoder_calls = [grads for phase, grads in model._recorded if phase == "encoder"]
    phases = dict(model._recorded)
    assert set(phases) == {"encoder", "masker"}
    # Lean: one gradient call per mask; joint: one for the whole sum.
    assert len(encoder_calls) == (NUM_MASKS if lean else 1)
    # Encoder phase: masks are constants, so no gradient reaches the masker.
    assert all(np.all(g == 0) for grads in encoder_calls for g in grads)
    # Masker phase: the encoder is differentiated through (non-zero
    # gradients exist) although the step never applies them.
    assert any(np.any(g != 0) for g in phases["masker"])


def test_simclr_adios_loss_is_the_sum_over_masks_of_nt_xent():
    model = make_model("simclr")
    model.compile(jit_compile=quick_jit_compile())
    x1, x2 = batch()
    logs = model.test_on_batch((x1, x2), return_dict=True)
    masks = ops.convert_to_numpy(model.masker(x2))
    projector = model.objective.projector
    z1 = projector(model.encoder(x1))
    expected = sum(
        float(losses.nt_xent(z1, projector(model.encoder(x2 * (1 - masks[..., n : n + 1]))), 0.5))
        for n in range(NUM_MASKS)
    )
    assert_allclose(logs["loss"], expected, atol=1e-4, rtol=1e-4)
    coverage = masks.mean(axis=(1, 2))
    penalty = np.sum(np.mean(1 / (np.sin(np.pi * coverage) + 1e-10), axis=0))
    assert_allclose(logs["sparsity_penalty"], penalty, rtol=1e-4)
    assert_allclose(logs["masker_loss"], -(expected - 1.0 * penalty), atol=1e-3, rtol=1e-4)
    assert_allclose(logs["coverage_min"], coverage.mean(0).min(), atol=1e-6)
    assert_allclose(logs["coverage_max"], coverage.mean(0).max(), atol=1e-6)


class _ViewRecorder(keras_adios.objectives.SimCLR):
    def encode(self, encoder, images, training=None):
        self.views.append(ops.convert_to_numpy(images))
        return super().encode(encoder, images, training)


def test_adios_s_uses_one_slot_per_image():
    recorder = _ViewRecorder(hidden_dim=16, projection_dim=8)
    model = keras_adios.ADIOS(
        tiny_encoder(), MaskGenerator(num_masks=NUM_MASKS, filters=8, norm="none"),
        objective=recorder, single_mask=True, seed=0,
    )
    x1, x2 = batch()
    masks = [model.masker(x2)]
    slots = model._draw_slots(BATCH)
    slots_np = ops.convert_to_numpy(slots)
    assert slots_np.shape == (BATCH,)
    assert slots_np.min() >= 0 and slots_np.max() < NUM_MASKS
    recorder.views = []
    clean = model._encode_clean(x1, x2, training=False)
    recorder.views.clear()  # only the masked views from here on
    model._ssl_loss(clean, x1, x2, masks, slots, training=False)
    assert len(recorder.views) == 1  # a single masked pass, not N
    m = ops.convert_to_numpy(masks[0])
    for b in range(BATCH):
        expected = x2[b] * (1 - m[b, ..., slots_np[b] : slots_np[b] + 1])
        np.testing.assert_allclose(recorder.views[0][b], expected, atol=1e-6)
    # Full ADIOS makes one masked pass per mask.
    recorder.views.clear()
    model._ssl_loss(clean, x1, x2, masks, None, training=False)
    assert len(recorder.views) == NUM_MASKS


def test_adios_s_draws_vary_across_images_and_phases():
    model = make_model("simclr", single_mask=True)
    draws = np.stack([ops.convert_to_numpy(model._draw_slots(64)) for _ in range(2)])
    assert len(np.unique(draws[0])) == NUM_MASKS
    assert not np.array_equal(draws[0], draws[1])


def test_adios_s_trains_with_the_penalty_over_all_masks():
    model = make_model("simclr", single_mask=True)
    model.compile(jit_compile=quick_jit_compile())
    x1, x2 = batch()
    logs = model.test_on_batch((x1, x2), return_dict=True)
    coverage = ops.convert_to_numpy(model.masker(x2)).mean(axis=(1, 2))
    penalty = np.sum(np.mean(1 / (np.sin(np.pi * coverage) + 1e-10), axis=0))
    assert_allclose(logs["sparsity_penalty"], penalty, rtol=1e-4)
    history = model.fit((x1, x2), batch_size=4, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and "masker_loss" in history


def test_byol_target_moves_by_ema_only():
    model = make_model("byol")
    model.compile(encoder_optimizer=sgd(0.1), masker_optimizer=sgd(0.1), jit_compile=quick_jit_compile())
    obj = model.objective
    target_vars = obj.target_encoder.trainable_variables + obj.target_projector.trainable_variables
    online_vars = model.encoder.trainable_variables + obj.projector.trainable_variables
    optimised = {id(v) for v in model.encoder_variables + model.masker_variables}
    assert not any(id(v) in optimised for v in target_vars)
    target_before = weights(target_vars)
    assert_same(target_before, weights(online_vars))  # starts as a copy
    model.fit(batch(), batch_size=BATCH, epochs=1, verbose=0,  # K = 1 step
              callbacks=[keras_adios.callbacks.MomentumSchedule()])
    online_after = weights(online_vars)
    tau = obj.base_momentum  # step 0 of the cosine schedule
    for t0, o1, t1 in zip(target_before, online_after, weights(target_vars)):
        np.testing.assert_allclose(t1, tau * t0 + (1 - tau) * o1, atol=1e-6)
    assert_changed(target_before, weights(target_vars))


def test_byol_momentum_schedule_follows_the_cosine_formula():
    model = make_model("byol", objective=objective("byol", total_steps=None))
    obj = model.objective
    obj.set_total_steps(10)
    for k in [0, 3, 5, 10, 12]:
        expected = 1 - (1 - 0.99) * (np.cos(np.pi * min(k, 10) / 10) + 1) / 2
        assert_allclose(obj.momentum(k), expected, atol=1e-6)


def test_momentum_schedule_callback_sets_byol_schedule_length_from_the_dataset():
    import tensorflow as tf

    model = make_model("byol", objective=objective("byol", total_steps=None))
    model.compile(jit_compile=quick_jit_compile())
    x1, x2 = batch()
    dataset = tf.data.Dataset.from_tensor_slices((x1, x2)).batch(4)  # 2 steps
    model.fit(dataset, epochs=3, verbose=0, callbacks=[keras_adios.callbacks.MomentumSchedule()])
    assert float(ops.convert_to_numpy(model.objective.schedule_steps)) == 6.0
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 6


def test_byol_without_a_schedule_length_warns_and_keeps_the_base_momentum():
    model = make_model("byol", objective=objective("byol", total_steps=None))
    model.compile(jit_compile=quick_jit_compile())
    with pytest.warns(UserWarning, match="MomentumSchedule"):
        model.fit(batch(), batch_size=4, epochs=1, verbose=0)
    assert float(ops.convert_to_numpy(model.objective.schedule_steps)) == 0.0
    assert_allclose(model.objective.momentum(5), model.objective.base_momentum, atol=1e-7)
    # Given total_steps, nothing to warn about, and the callback keeps it.
    explicit = keras_adios.objectives.BYOL(hidden_dim=16, projection_dim=8, predictor_hidden_dim=16, total_steps=7)
    model = keras_adios.ADIOS(tiny_encoder(), None, objective=explicit)
    model.compile(jit_compile=quick_jit_compile())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(batch(), batch_size=4, epochs=1, verbose=0, callbacks=[keras_adios.callbacks.MomentumSchedule()])
    assert float(ops.convert_to_numpy(explicit.schedule_steps)) == 7.0


def test_online_probe_trains_only_the_probe_and_reports_accuracy():
    model = make_model("simclr", num_classes=4)
    model.compile(encoder_optimizer=sgd(0.0), masker_optimizer=sgd(0.0), probe_optimizer=sgd(0.5))
    data, labels = batch(labels=True)
    encoder_before = weights(model.encoder_variables)
    probe_before = weights(model.probe_variables)
    history = model.fit(data, labels, batch_size=BATCH, epochs=3, verbose=0).history
    assert {"probe_loss", "probe_accuracy"} <= set(history)
    assert history["probe_loss"][-1] < history["probe_loss"][0]
    assert 0.0 <= history["probe_accuracy"][-1] <= 1.0
    assert_same(encoder_before, weights(model.encoder_variables))
    assert_changed(probe_before, weights(model.probe_variables))
    no_labels = model.evaluate(data, batch_size=BATCH, verbose=0, return_dict=True)
    assert "probe_accuracy" not in no_labels


def test_online_probe_ignores_unlabelled_rows():
    # STL10's "unlabelled" split carries label -1.
    model = make_model("simclr", num_classes=4)
    model.compile(jit_compile=quick_jit_compile())
    (x1, x2), labels = batch(labels=True)
    partial = labels.copy()
    partial[::2] = -1
    features = model.encoder(x1)
    logits = ops.convert_to_numpy(model.probe(features))
    keep = partial >= 0
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(log_softmax[keep, partial[keep]])
    loss, accuracy = model._probe_terms(features, partial)
    assert_allclose(loss, expected, atol=1e-5)
    assert_allclose(accuracy, np.mean(np.argmax(logits[keep], -1) == partial[keep]), atol=1e-6)


def test_baseline_without_masker_is_the_plain_method():
    model = make_model("simclr", masker=None)
    model.compile(jit_compile=quick_jit_compile())
    x1, x2 = batch()
    logs = model.test_on_batch((x1, x2), return_dict=True)
    assert set(logs) == {"loss"}
    projector = model.objective.projector
    expected = losses.nt_xent(projector(model.encoder(x1)), projector(model.encoder(x2)), 0.5)
    assert_allclose(logs["loss"], expected, atol=1e-5)
    assert "masker" not in model.optimizer


def test_fixed_random_masker_skips_the_masker_phase():
    model = make_model("simclr", masker=RandomPatchMasker(mask_ratio=0.5, patch_size=4, seed=1))
    model.compile(jit_compile=quick_jit_compile())
    assert "masker" not in model.optimizer and not model.trains_masker
    history = model.fit(batch(), batch_size=4, epochs=1, verbose=0).history
    assert "masker_loss" not in history
    assert_allclose(history["coverage_min"][0], 0.5, atol=1e-6)


def test_same_seed_gives_the_same_training_run():
    def run():
        keras.utils.set_random_seed(7)
        model = make_model("simclr", single_mask=True)
        model.compile(jit_compile=quick_jit_compile())
        model.fit(batch(), batch_size=4, epochs=1, verbose=0, shuffle=False)
        return weights(model.encoder_variables + model.masker_variables)

    for a, b in zip(run(), run()):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("objective_name", ["simclr", "byol"])
def test_save_and_load_round_trip(tmp_path, objective_name):
    model = make_model(objective_name, single_mask=True, num_classes=4)
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        masker_optimizer=keras.optimizers.Adam(1e-3),
    )
    data, labels = batch(labels=True)
    model.fit(data, labels, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "adios.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, keras_adios.ADIOS)
    assert loaded.single_mask and loaded.num_classes == 4
    x1 = data[0]
    assert_allclose(loaded.encoder(x1), model.encoder(x1), atol=1e-6)
    assert_allclose(loaded.masker(x1), model.masker(x1), atol=1e-6)
    assert_allclose(loaded.predict(x1, verbose=0), model.predict(x1, verbose=0), atol=1e-6)
    for a, b in zip(weights(loaded.optimizer.variables), weights(model.optimizer.variables)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # Training resumes from the loaded state.
    loaded.fit(data, labels, batch_size=4, epochs=1, verbose=0)
    assert int(ops.convert_to_numpy(loaded.optimizer.iterations)) == 4


def test_encoder_and_masker_are_reusable_after_saving(tmp_path):
    model = make_model("simclr")
    model.encoder.save(str(tmp_path / "encoder.keras"))
    model.masker_model = None
    encoder = keras.models.load_model(str(tmp_path / "encoder.keras"))
    x1, _ = batch()
    assert_allclose(encoder(x1), model.encoder(x1), atol=1e-6)


def test_encoder_works_inside_a_new_sequential_classifier():
    model = make_model("simclr")
    model.compile(jit_compile=quick_jit_compile())
    model.fit(batch(), batch_size=4, epochs=1, verbose=0)
    classifier = keras.Sequential([model.encoder, keras.layers.Dense(4)])
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    (x1, _), labels = batch(labels=True)
    history = classifier.fit(x1, labels, epochs=5, batch_size=BATCH, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert classifier.predict(x1, verbose=0).shape == (BATCH, 4)


def test_get_config_round_trip():
    model = make_model("simsiam", single_mask=True, num_classes=3, sparsity_weight=0.5, entropy_weight=0.2)
    config = model.get_config()
    revived = keras_adios.ADIOS.from_config(config)
    assert revived.get_config() == config
    assert isinstance(revived.objective, keras_adios.objectives.SimSiam)
    assert revived.sparsity_weight == 0.5 and revived.entropy_weight == 0.2


def test_a_dataset_without_two_views_is_rejected():
    model = make_model("simclr")
    model.compile(jit_compile=quick_jit_compile())
    (x1, _), labels = batch(labels=True)
    with pytest.raises(ValueError, match="two views"):
        model.fit(x1, labels, batch_size=4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\(view1, view2\)"):
        model.fit(x1, batch_size=4, epochs=1, verbose=0)


def test_mismatched_or_wrong_size_views_are_rejected():
    model = make_model("simclr")
    model.compile(jit_compile=quick_jit_compile())
    x1, x2 = batch()
    with pytest.raises(ValueError, match="same image shape"):
        model.train_on_batch((x1, x2[:, :8, :8]))
    small = np.zeros((BATCH, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="built for images of shape"):
        model.train_on_batch((small, small))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sparsity_weight": -1.0}, "sparsity_weight"),
        ({"num_classes": 1}, "num_classes"),
        ({"objective": "moco"}, "objective"),
    ],
)
def test_invalid_constructor_arguments(kwargs, match):
    args = {"encoder": tiny_encoder(), "masker": None, **kwargs}
    with pytest.raises(ValueError, match=match):
        keras_adios.ADIOS(**args)


def test_single_mask_needs_a_masker_and_compile_rejects_loss():
    with pytest.raises(ValueError, match="single_mask"):
        keras_adios.ADIOS(tiny_encoder(), None, single_mask=True)
    model = make_model("simclr")
    with pytest.raises(ValueError, match="loss"):
        model.compile(loss="mse")


def test_encoder_must_output_vectors():
    spatial = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(4, 3)])
    with pytest.raises(ValueError, match=r"features \(B, D\)"):
        keras_adios.ADIOS(spatial, None)


# === Masks computed once per step ===


def _numpy_initialised(objective_name, single_mask, masker=None, cls=keras_adios.ADIOS):
    """A compiled ADIOS whose weights come from NumPy (identical when rebuilt)."""
    masker = masker or MaskGenerator(num_masks=NUM_MASKS, filters=8, norm="group")
    model = make_model(objective_name, masker=masker, single_mask=single_mask, num_classes=4, cls=cls)
    rng = np.random.default_rng(1)
    model.set_weights(
        [
            rng.normal(0.0, 0.3, size=tuple(v.shape)).astype(v.dtype)
            if v.trainable
            else np.asarray(ops.convert_to_numpy(v))
            for v in model.weights
        ]
    )
    return compile_with_sgd(model)


@pytest.mark.parametrize(
    "objective_name, single_mask",
    [("simclr", False), ("simclr", True), ("byol", True), ("simsiam", False)],
)
def test_one_mask_forward_gives_the_weights_of_the_two_forward_step(objective_name, single_mask):
    model = _numpy_initialised(objective_name, single_mask)
    reference = _numpy_initialised(objective_name, single_mask, cls=TwoForwardADIOS)
    for a, b in zip(weights(model.weights), weights(reference.weights)):
        np.testing.assert_array_equal(a, b)
    masker_before = weights(model.masker_variables)
    for seed in (0, 1):  # the second step also checks the momentum state
        data, labels = batch(seed, labels=True)
        logs = model.train_on_batch(data, labels, return_dict=True)
        reference_logs = reference.train_on_batch(data, labels, return_dict=True)
    for key in ("loss", "masker_loss", "sparsity_penalty", "probe_loss"):
        assert_allclose(logs[key], reference_logs[key], atol=1e-5, rtol=1e-5, msg=key)
    assert_same_weights(model, reference)
    # Not vacuous: the masker moved, by more than the tolerance.
    moved = max(np.max(np.abs(a - b)) for a, b in zip(weights(model.masker_variables), masker_before))
    assert moved > 1e-2, moved


def _count_masker_calls(model):
    calls = {"n": 0}
    original = model.masker.call

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    object.__setattr__(model.masker, "call", counted)
    return calls


@pytest.mark.parametrize("objective_name, views", [("simclr", 1), ("simsiam", 2)])
def test_masker_forward_runs_once_per_view_per_step(objective_name, views):
    for two_forward, expected in ((False, views), (True, 2 * views)):
        model = make_model(objective_name, cls=TwoForwardADIOS if two_forward else keras_adios.ADIOS)
        model.compile(run_eagerly=True)
        calls = _count_masker_calls(model)
        model.train_on_batch(batch())
        assert calls["n"] == expected, (two_forward, calls["n"])
        model.train_on_batch(batch(1))
        assert calls["n"] == 2 * expected, (two_forward, calls["n"])


def _count_vjp_calls(model):
    calls = {"n": 0}
    original = model._vjp

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    object.__setattr__(model, "_vjp", counted)
    return calls


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "joint"])
def test_only_a_trained_masker_records_its_forward_for_a_vjp(lean):
    fixed = make_model("simclr", masker=RandomPatchMasker(mask_ratio=0.5, patch_size=4, seed=1),
                       per_view_backward=lean)
    learned = make_model("simclr", per_view_backward=lean)
    # The lean encoder phase records the unmasked forward for one vjp too.
    for model, expected_vjps in ((fixed, 0 + lean), (learned, 1 + lean)):
        model.compile(run_eagerly=True)
        vjps, masker_calls = _count_vjp_calls(model), _count_masker_calls(model)
        model.train_on_batch(batch())
        assert (vjps["n"], masker_calls["n"]) == (expected_vjps, 1), model.masker.name


class BatchNormMasker(keras_adios.layers.Masker):
    """BatchNorm -> 1x1 conv -> softmax: a learned masker with running statistics."""

    def __init__(self, **kwargs):
        super().__init__(num_masks=NUM_MASKS, **kwargs)
        self.bn = keras.layers.BatchNormalization(momentum=0.5)
        self.conv = keras.layers.Conv2D(NUM_MASKS, 1)

    def build(self, input_shape):
        self.bn.build(input_shape)
        self.conv.build(input_shape)

    def call(self, images):
        self.check_images(images.shape)
        return ops.softmax(ops.cast(self.conv(self.bn(images)), "float32"), axis=-1)


def test_masker_batchnorm_statistics_update_once_per_step():
    masker = BatchNormMasker()
    model = make_model("simclr", masker=masker)
    model.compile(masker_optimizer=sgd(0.1))
    bn = masker.bn
    x1, x2 = batch()
    model.train_on_batch((x1, x2))
    # One update from 0 with momentum 0.5 (two updates would give 0.75x).
    expected = 0.5 * x2.mean(axis=(0, 1, 2))
    assert_allclose(bn.moving_mean, expected, atol=1e-5)


def test_labels_outside_num_classes_are_refused_before_training():
    encoder = tiny_encoder(16)
    model = keras_adios.ADIOS(encoder, None, objective=keras_adios.objectives.SimCLR(hidden_dim=8),
                              num_classes=3)
    model.compile()
    data, _ = view_batch(4, 16, num_classes=3)
    before = weights(model.weights)
    with pytest.raises(ValueError, match=r"below num_classes=3.*Received: 1 label\(s\) >= 3, the largest 7"):
        model.fit(data, np.array([0, 1, 7, -1]), batch_size=4, epochs=1, verbose=0)
    for a, b in zip(before, weights(model.weights)):
        np.testing.assert_array_equal(a, b)
