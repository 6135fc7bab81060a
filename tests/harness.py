"""The shared test harness of keras_adios (in the spirit of keras-hub's `TestCase`).

Every test module imports what it needs from here instead of copying it:

- `assert_allclose`, `weights`, `images`: small helpers.
- `docstring_code(obj)`, `run_docstring_example(obj)`, `run_doctests(module)`:
  the `Example:` sections of the public API, executed.
- `run_serialization_test(instance)`: `get_config` is JSON-able, covers the
  constructor and rebuilds an equal object.
- `run_layer_test(cls, init_kwargs, input_data, expected_output_shape)`: a
  layer builds, runs eagerly and under the backend's jit, and survives a
  config and a `.keras` round trip with the same outputs.
- `run_model_saving_test(model, input_data, path)`: a `.keras` round trip.
- `run_jitted(layer, images, repeats)`: calls a layer inside the backend's
  compiled function.
- `run_masker_contract_test(masker, images)`: what `keras_adios.ADIOS`
  expects of every `keras_adios.layers.Masker`.
- `run_objective_contract_test(make_objective)`: what `keras_adios.ADIOS`
  expects of every `keras_adios.objectives.Objective`, through a training step
  in each variant (ADIOS, ADIOS-s, no masks).
- `TwoForwardADIOS`: the authors' formulation of the step (masks recomputed
  in the masker phase), the reference of the masks-once equality tests.
- `tiny_encoder`, `view_batch`: a BatchNorm-free encoder and a batch of views.
- `run_benchmark_script(name, args, backend)`: runs `benchmarks/<name>` in a
  subprocess and fails with its output tail if it does not exit 0.

Tests import it as `import harness` (`tests/` is put on `sys.path` by
`tests/conftest.py`; subprocess scripts insert it themselves).
"""

import doctest
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
from keras import ops

import keras_adios
from keras_adios.objectives import Embedding
from keras_adios.utils.backend_utils import no_grad

# === Small helpers ===

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_benchmark_script(name, args, backend="tensorflow", timeout=900):
    """Runs `benchmarks/<name> <args>` on `backend` from the repository root; asserts exit 0."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", name), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def write_image_folder(root, classes=("cat", "dog"), per_class=3, sizes=((20, 30),), seed=0):
    """Writes PNGs `root/<class>/<i>.png` of random pixels; returns {path: (array, label)}."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    written = {}
    for label, name in enumerate(sorted(classes)):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            h, w = sizes[i % len(sizes)]
            array = rng.integers(0, 256, (h, w, 3), dtype="uint8")
            path = os.path.join(root, name, f"{i}.png")
            Image.fromarray(array).save(path)
            written[path] = (array, label)
    return written


def assert_allclose(actual, expected, atol=1e-6, rtol=1e-6, msg=""):
    """`np.testing.assert_allclose` on backend tensors or arrays."""
    np.testing.assert_allclose(
        ops.convert_to_numpy(actual), ops.convert_to_numpy(expected), atol=atol, rtol=rtol, err_msg=msg
    )


def weights(variables):
    """NumPy copies of variables' values."""
    return [np.array(ops.convert_to_numpy(v)) for v in variables]


def quick_jit_compile():
    """`jit_compile` for a test that trains a tiny model for a few steps.

    TensorFlow: a `tf.function` without XLA (XLA's compile costs more than the
    few steps). JAX: `jax.jit` (without it every op dispatches on its own: six
    BYOL-ADIOS steps of a tiny model take 52 s eagerly, 14 s jitted, compile
    included). PyTorch ignores it.
    """
    return keras.backend.backend() == "jax"


def compile_with_sgd(model, encoder_lr=0.05, masker_lr=0.5, probe_lr=0.1):
    """`model.compile` with SGD (momentum 0.9 for both players, plain for the probe)."""
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(encoder_lr, momentum=0.9),
        masker_optimizer=keras.optimizers.SGD(masker_lr, momentum=0.9),
        probe_optimizer=keras.optimizers.SGD(probe_lr),
    )
    return model


def assert_same_weights(model, reference, atol=1e-5, rtol=1e-4):
    """Every weight of `model` equals the one at the same position of `reference`."""
    for v, a, b in zip(model.weights, weights(model.weights), weights(reference.weights)):
        np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=v.path)


def images(batch=2, size=16, channels=3, seed=0):
    """Normal float32 images `(batch, size, size, channels)`."""
    return np.random.default_rng(seed).normal(size=(batch, size, size, channels)).astype("float32")


# === Docstring examples ===


def docstring_code(obj, index=0):
    """The `index`-th ```python block of `obj`'s docstring, dedented."""
    blocks = obj.__doc__.split("```python")[1:]
    if not blocks:
        raise AssertionError(f"{obj!r} has no ```python example in its docstring")
    return textwrap.dedent(blocks[index].split("```")[0])


def run_docstring_example(obj, index=0):
    """Executes a docstring example; returns its namespace."""
    namespace = {}
    exec(docstring_code(obj, index), namespace)  # noqa: S102 - our own examples
    return namespace


def run_doctests(module):
    """Runs a module's `>>>` examples; fails unless some ran and all passed."""
    results = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert results.attempted > 0, f"{module.__name__} has no doctest examples"
    assert results.failed == 0, f"{results.failed} doctest examples failed in {module.__name__}"


# === Serialization and layers ===


def run_serialization_test(instance, init_kwargs=None):
    """Checks that `get_config` is JSON-able and rebuilds an equal object.

    With `init_kwargs`, also checks that the config holds every constructor
    argument with the value given. Returns the rebuilt instance.
    """
    config = instance.get_config()
    json.dumps(config)  # must be JSON-serializable
    for key, value in (init_kwargs or {}).items():
        expected = list(value) if isinstance(value, tuple) else value
        assert config[key] == expected, (key, config[key], expected)
    serialized = keras.saving.serialize_keras_object(instance)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(instance), (type(revived), type(instance))
    assert revived.get_config() == config, (revived.get_config(), config)
    return revived


def run_model_saving_test(model, input_data, path, atol=1e-6):
    """Saves `model` to `path` (.keras), loads it, compares outputs; returns it."""
    expected = model(input_data)
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model), (type(loaded), type(model))
    assert_allclose(loaded(input_data), expected, atol=atol)
    return loaded


def run_layer_test(cls, init_kwargs, input_data, expected_output_shape, tmp_path=None, deterministic=True):
    """Builds and calls a layer; checks shapes, jit and the config round trip.

    Returns the built layer. With `deterministic`, the rebuilt layer (same
    weights) and the jitted call must give the same output; with `tmp_path`,
    the layer inside a functional model also survives a `.keras` round trip.
    """
    layer = cls(**init_kwargs)
    output = layer(input_data)
    assert tuple(output.shape) == tuple(expected_output_shape), (output.shape, expected_output_shape)
    revived = run_serialization_test(layer, init_kwargs)
    revived.build(np.shape(input_data))
    revived.set_weights(layer.get_weights())
    if deterministic:
        assert_allclose(revived(input_data), output, atol=1e-5)
        assert_allclose(run_jitted(layer, input_data)[0], output, atol=1e-4)
        if tmp_path is not None:
            inputs = keras.Input(np.shape(input_data)[1:])
            model = keras.Model(inputs, layer(inputs))
            run_model_saving_test(model, input_data, os.path.join(str(tmp_path), "layer.keras"))
    return layer


def input_gradient(fn, x):
    """`(fn(x), d fn / d x)` as NumPy for a scalar `fn`, on the current backend."""
    backend = keras.backend.backend()
    x = np.asarray(x, "float32")
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            value = fn(t)
        grad = tape.gradient(value, t)
    elif backend == "jax":
        import jax

        value, grad = jax.value_and_grad(lambda t: fn(t))(x)
    elif backend == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        value = fn(t)
        (grad,) = torch.autograd.grad(value, t)
    else:
        raise AssertionError(f"Unsupported backend for these tests: {backend}")
    return float(ops.convert_to_numpy(value)), np.asarray(ops.convert_to_numpy(grad))


def image_batch(batch=8, height=32, width=32, channels=3, seed=0):
    """Standard-normal float32 images `(batch, height, width, channels)`."""
    return np.random.default_rng(seed).normal(size=(batch, height, width, channels)).astype("float32")


def patch_grid_of(masks, patch_size):
    """`(B, H, W, 1)` pixel masks -> `(B, rows, cols)`; asserts each patch is constant."""
    b, h, w, c = masks.shape
    assert c == 1
    patches = masks[..., 0].reshape(b, h // patch_size, patch_size, w // patch_size, patch_size)
    np.testing.assert_array_equal(patches.min(axis=(2, 4)), patches.max(axis=(2, 4)))
    return patches[:, :, 0, :, 0]


def run_jitted(layer, images, repeats=1):
    """Calls `layer` on `images` `repeats` times inside a compiled function.

    TensorFlow: `tf.function(jit_compile=True)` with a dynamic batch size.
    JAX: `jax.jit` over `layer.stateless_call`, threading the non-trainable
    state (e.g. seed generators) from one call to the next. PyTorch: eager.
    Returns the list of outputs as NumPy arrays.
    """
    images = np.asarray(images)
    if not layer.built:
        layer.build(images.shape)
    backend = keras.backend.backend()
    outputs = []
    if backend == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None,) + images.shape[1:], tf.float32)

        @tf.function(jit_compile=True, input_signature=[spec])
        def fn(x):
            return layer(x)

        for _ in range(repeats):
            outputs.append(fn(tf.constant(images)).numpy())
    elif backend == "jax":
        import jax

        @jax.jit
        def fn(trainable, non_trainable, x):
            return layer.stateless_call(trainable, non_trainable, x)

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        for _ in range(repeats):
            out, non_trainable = fn(trainable, non_trainable, images)
            outputs.append(np.asarray(out))
    elif backend == "torch":
        for _ in range(repeats):
            outputs.append(ops.convert_to_numpy(layer(images)))
    else:
        raise AssertionError(f"Unsupported backend for these tests: {backend}")
    return outputs


# === A tiny ADIOS set-up ===


def tiny_encoder(size=16, name="encoder"):
    """A BatchNorm-free encoder (train- and inference-mode passes agree)."""
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(8),
        ],
        name=name,
    )


def view_batch(batch=8, size=16, seed=0, num_classes=None):
    """`(x1, x2)`, or `((x1, x2), labels)` with `num_classes`."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=(batch, size, size, 3)).astype("float32")
    x2 = rng.normal(size=(batch, size, size, 3)).astype("float32")
    if num_classes:
        return (x1, x2), rng.integers(0, num_classes, batch).astype("int32")
    return x1, x2


# === Contracts ===


def run_masker_contract_test(masker, images):
    """What `keras_adios.ADIOS` expects of a `keras_adios.layers.Masker`.

    Checks the output spec and values, the learned-masker partition,
    rejection of bad inputs, serialization, and one ADIOS step (the masker's
    weights move if and only if it is learned). Returns the masks.
    """
    assert isinstance(masker, keras_adios.layers.Masker)
    assert isinstance(masker.learned, bool)
    batch, size = images.shape[0], images.shape[1]
    spec = masker.compute_output_spec(keras.KerasTensor(images.shape))
    assert tuple(spec.shape) == (batch, size, size, masker.num_masks) and spec.dtype == "float32"
    masks = ops.convert_to_numpy(masker(images))
    assert masks.shape == (batch, size, size, masker.num_masks) and masks.dtype == np.float32
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    if masker.learned:
        assert masker.num_masks >= 2
        np.testing.assert_allclose(masks.sum(-1), 1.0, atol=1e-5)
    try:
        masker.compute_output_shape(images.shape[1:])
    except ValueError as error:
        assert "Received" in str(error), error
    else:
        raise AssertionError("a masker must reject images that are not 4D")
    run_serialization_test(masker)

    model = keras_adios.ADIOS(tiny_encoder(size), masker, objective=_tiny("simclr"), seed=0)
    assert model.trains_masker == masker.learned
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(0.1), masker_optimizer=keras.optimizers.SGD(0.5)
    )
    before = weights(masker.weights)
    logs = model.fit(view_batch(batch, size), batch_size=batch, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and "coverage_min" in logs
    moved = any(not np.array_equal(a, b) for a, b in zip(before, weights(masker.weights)))
    assert moved == masker.learned, (type(masker).__name__, moved)
    assert ("masker_loss" in logs) == masker.learned
    return masks


def run_objective_contract_test(make_objective, size=16):
    """What `keras_adios.ADIOS` expects of a `keras_adios.objectives.Objective`.

    `make_objective()` returns a new, small instance. Checks the embeddings,
    the loss (finite float32 scalar, differentiable w.r.t. the masked view,
    the plain-method call), the variables the encoder optimizer gets, the
    config round trip, and a training step in every variant (ADIOS, ADIOS-s,
    no masks, fixed random masks) that moves the encoder and keeps every
    metric finite.
    """
    objective = make_objective()
    assert isinstance(objective, keras_adios.objectives.Objective)
    run_serialization_test(objective)
    model = keras_adios.ADIOS(tiny_encoder(size), None, objective=objective)
    x1, x2 = view_batch(4, size)
    e1 = objective.encode(model.encoder, x1, training=True)
    e2 = objective.encode(model.encoder, x2, training=True)
    assert isinstance(e1, Embedding) and tuple(e1.features.shape) == (4, model.feature_dim)
    value = objective.loss(e1, e2, e1, e2)
    assert tuple(value.shape) == () and keras.backend.standardize_dtype(value.dtype) == "float32"
    assert np.isfinite(float(ops.convert_to_numpy(value)))
    online = {id(v) for v in objective.online_variables}
    trainable = {id(v) for v in objective.trainable_variables}
    assert online and online <= trainable
    assert not online & {id(v) for v in model.encoder.trainable_variables}

    # The masker learns through the loss: it depends on the masked view.
    grads = _input_gradient(objective, model.encoder, e1, e2, x1, x2)
    assert np.any(grads != 0), f"{type(objective).__name__}.loss ignores the masked view"

    for variant in ("adios", "adios_s", "none", "random"):
        masker = {
            "adios": lambda: keras_adios.layers.MaskGenerator(num_masks=2, filters=8, norm="none"),
            "adios_s": lambda: keras_adios.layers.MaskGenerator(num_masks=2, filters=8, norm="none"),
            "none": lambda: None,
            "random": lambda: keras_adios.layers.RandomPatchMasker(0.5, patch_size=4, seed=0),
        }[variant]()
        model = keras_adios.ADIOS(
            tiny_encoder(size), masker, objective=make_objective(), single_mask=variant == "adios_s",
            num_classes=3, seed=0,
        )
        model.compile(
            encoder_optimizer=keras.optimizers.SGD(0.05),
            masker_optimizer=keras.optimizers.SGD(0.05),
            probe_optimizer=keras.optimizers.SGD(0.05),
        )
        before = weights(model.encoder.trainable_variables)
        data, labels = view_batch(8, size, num_classes=3)
        history = model.fit(data, labels, batch_size=4, epochs=1, verbose=0).history
        for key, values in history.items():
            assert np.all(np.isfinite(values)), (variant, key, values)
        assert any(not np.array_equal(a, b) for a, b in zip(before, weights(model.encoder.trainable_variables)))
        assert ("masker_loss" in history) == (variant in ("adios", "adios_s"))
    return objective


def _input_gradient(objective, encoder, e1, e2, x1, x2):
    """d loss / d x2_masked, by finite differences of one pixel block (any backend)."""
    e1, e2 = e1.stop_gradient(), e2.stop_gradient()
    shifted = np.array(x2, copy=True)
    shifted[:, :4, :4, :] += 1.0
    base = objective.loss(e1, e2, e1, objective.encode(encoder, x2, training=True))
    moved = objective.loss(e1, e2, e1, objective.encode(encoder, shifted, training=True))
    return np.asarray(ops.convert_to_numpy(moved - base))


def _tiny(name):
    return keras_adios.objectives.get(
        name, **{"simclr": {"temperature": 0.5, "hidden_dim": 16, "projection_dim": 8}}[name]
    )


# === The authors' formulation of the step, as a reference ===


class TwoForwardADIOS(keras_adios.ADIOS):
    """ADIOS with the masker phase of the authors' code: masks computed again.

    The encoder phase uses masks computed without gradients; the masker phase
    recomputes them, differentiated w.r.t. the masker weights together with
    its objective (`simclr_adios.py`). It gives the same gradients as
    `keras_adios.ADIOS`' one-forward step with one more masker forward per
    step; the masks-once tests compare the two. Its encoder phase is the
    authors' too: one backward through the sum over the masked views
    (`per_view_backward=False`).
    """

    def __init__(self, *args, **kwargs):
        kwargs["per_view_backward"] = False
        super().__init__(*args, **kwargs)

    def _vjp(self, forward_fn, variables):
        # No recording: the masker phase below computes the weight gradients
        # through a second forward, and the "pull-back" passes them on.
        with no_grad():
            return list(forward_fn()), _identity_pullback

    def _value_and_grad(self, loss_fn, variables, inputs=()):
        if not inputs:
            return super()._value_and_grad(loss_fn, variables)
        # The masker phase: `loss_fn(*masks)` through masks recomputed now.
        x1, x2 = self._current_views

        def masker_loss():
            return loss_fn(*self._masks(x1, x2))

        return super()._value_and_grad(masker_loss, self.masker_variables)

    def _unpack(self, data):
        x1, x2, labels = super()._unpack(data)
        object.__setattr__(self, "_current_views", (x1, x2))
        return x1, x2, labels


def _identity_pullback(grads):
    return list(grads)


# === Encoder parameter counts by hand ===


def trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def non_trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)


def nhwc_output_shape(model, name):
    """A ResNet layer's output shape as (batch, height, width, channels), whatever its feature layout."""
    shape = tuple(model.get_layer(name).output.shape)
    if model.data_format == "channels_first":
        return (shape[0],) + shape[2:] + (shape[1],)
    return shape


def resnet_param_counts(stage_widths, blocks_per_stage, stem_kernel, norm, channels=3):
    """(trainable, non-trainable) parameters of `encoders.ResNet` from its topology.

    Every conv is followed by a norm (gamma, beta; BatchNorm adds moving mean
    and variance) or, with `norm="none"`, has a bias; a 1x1 projection conv
    wherever a block changes the shape; the first stage keeps the resolution.
    """
    counts = [0, 0]

    def conv(k, c_in, c_out):
        counts[0] += k * k * c_in * c_out + (c_out if norm == "none" else 2 * c_out)
        if norm in ("batch", "sync_batch"):
            counts[1] += 2 * c_out

    conv(stem_kernel, channels, stage_widths[0])
    c_in = stage_widths[0]
    for i, c in enumerate(stage_widths):
        for block in range(blocks_per_stage):
            stride = 2 if i > 0 and block == 0 else 1
            conv(3, c_in, c)
            conv(3, c, c)
            if stride != 1 or c_in != c:
                conv(1, c_in, c)
            c_in = c
    return tuple(counts)


def run_encoder_in_classifier_test(encoder, batch=4, size=32):
    """Trains `Sequential([encoder, Dense(3)])` for one epoch; every encoder weight must move.

    Every kernel, gamma, beta and BatchNorm moving statistic of the encoder
    changes. Returns `(classifier, images)`.
    """
    classifier = keras.Sequential([encoder, keras.layers.Dense(3)])
    classifier.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 3, size=(batch,))
    before = [keras.ops.convert_to_numpy(w) for w in encoder.weights]
    history = classifier.fit(x, y, batch_size=batch // 2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    after = [keras.ops.convert_to_numpy(w) for w in encoder.weights]
    unchanged = [w.path for w, a, b in zip(encoder.weights, before, after) if np.array_equal(a, b)]
    assert not unchanged, unchanged
    assert classifier.output_shape == (None, 3)
    return classifier, x
