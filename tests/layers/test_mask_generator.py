import keras
import numpy as np
import pytest

from keras_adios.layers import MaskGenerator
from keras_adios.layers.mask_generator import channel_plan
from keras_adios.layers.mask_generator import default_num_blocks
from keras_adios.layers.mask_generator import group_norm
from keras_adios.layers.mask_generator import subsample
from harness import assert_allclose
from harness import run_serialization_test


# Most tests share one configuration (the docstring example's: 32 px, so
# 4 blocks, filters=8, 4 masks, batch 2). On JAX every new variable or
# tensor shape costs an XLA compilation, so reusing shapes keeps the suite
# fast; tests that only look at shapes build without initializing
# variables (`_build_shapes_only`).
SIZE, FILTERS, MASKS, BATCH = 32, 8, 4, 2


def _images(batch=BATCH, size=SIZE, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, size, size, channels)).astype("float32")


def _generator(**kwargs):
    kwargs = {"num_masks": MASKS, "filters": FILTERS, **kwargs}
    return MaskGenerator(**kwargs)


def _build_shapes_only(layer, input_shape):
    """Builds `layer` with lazily initialized variables (shapes only)."""
    with keras.StatelessScope(initialize_variables=False):
        layer.build(input_shape)
    return layer


def _np(x):
    return keras.ops.convert_to_numpy(x)


# --------------------------------------------------------------------------- #
# Numpy reference of the official UNet forward pass (src/utils/unet.py).
# --------------------------------------------------------------------------- #


def _ref_conv(x, kernel, bias=None):
    kh, kw = kernel.shape[:2]
    ph, pw = kh // 2, kw // 2
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],), dtype=np.float64)
    for dy in range(kh):
        for dx in range(kw):
            out += xp[:, dy : dy + h, dx : dx + w, :] @ kernel[dy, dx]
    if bias is not None:
        out += bias
    return out


def _ref_group_norm(x, groups, gamma, beta, eps=1e-5):
    b, h, w, c = x.shape
    g = x.reshape(b, h, w, groups, c // groups)
    mean = g.mean(axis=(1, 2, 4), keepdims=True)
    var = g.var(axis=(1, 2, 4), keepdims=True)
    g = (g - mean) / np.sqrt(var + eps)
    return g.reshape(b, h, w, c) * gamma + beta


def _ref_forward(layer, x, downsample):
    """Forward pass written from the spec, using `layer`'s weights."""
    w = lambda v: _np(keras.ops.copy(v)).astype(np.float64)  # noqa: E731
    norms = {"group": lambda c: 8, "instance": lambda c: c}

    def block(conv, norm_layer, x):
        bias = None if conv.bias is None else w(conv.bias)
        y = _ref_conv(x, w(conv.kernel), bias)
        if norm_layer is not None:
            groups = norms[layer.norm](y.shape[-1])
            y = _ref_group_norm(y, groups, w(norm_layer.gamma), w(norm_layer.beta))
        return np.maximum(y, 0.0)

    nb = layer.resolved_num_blocks
    enc_norms = layer.encoder_norms or [None] * nb
    dec_norms = layer.decoder_norms or [None] * nb
    x = x.astype(np.float64)
    skips = []
    for i in range(nb):
        act = block(layer.encoder_convs[i], enc_norms[i], x)
        skips.append(act)
        x = downsample(act) if i < nb - 1 else act
    f = layer.bottleneck_size
    width = 2 * layer.filters
    x = x.reshape(x.shape[0], f * f * width)
    for dense in layer.bottleneck_dense:
        x = np.maximum(x @ w(dense.kernel) + w(dense.bias), 0.0)
    x = x.reshape(-1, f, f, width)
    for i in range(nb):
        x = np.concatenate([x, skips[-1 - i]], axis=-1)
        x = block(layer.decoder_convs[i], dec_norms[i], x)
        if i < nb - 1:
            x = x.repeat(2, axis=1).repeat(2, axis=2)
    logits = _ref_conv(x, w(layer.head.kernel), w(layer.head.bias))
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def _ref_subsample(x):
    return x[:, ::2, ::2, :]


def _ref_avg_pool(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


# --------------------------------------------------------------------------- #
# Outputs
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("norm", ["group", "instance", "none"])
def test_masks_partition_every_pixel_and_match_reference(norm):
    layer = _generator(norm=norm)
    images = _images()
    masks = layer(images)
    assert tuple(masks.shape) == (BATCH, SIZE, SIZE, MASKS)
    assert keras.backend.standardize_dtype(masks.dtype) == "float32"
    assert layer.compute_output_shape((None, SIZE, SIZE, 3)) == (None, SIZE, SIZE, MASKS)
    masks = _np(masks)
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    np.testing.assert_allclose(masks.sum(axis=-1), 1.0, atol=1e-5)
    # Not a constant output: the masks vary over pixels.
    assert masks[..., 0].std() > 0.0
    # Same numbers as a numpy forward pass written from the reference notes.
    expected = _ref_forward(layer, images, _ref_subsample)
    np.testing.assert_allclose(masks, expected, atol=2e-5)


def test_a_single_learned_mask_is_refused():
    # One softmax channel is 1 everywhere: it would occlude the whole image
    # and the sparsity penalty diverges at coverage 1.
    with pytest.raises(ValueError, match=r"integer >= 2\. A learned masker.*Received: num_masks=1"):
        _generator(num_masks=1)


def test_downsampling_is_subsampling_not_pooling():
    x = np.arange(2 * 6 * 6 * 3, dtype="float32").reshape(2, 6, 6, 3)
    out = _np(subsample(keras.ops.convert_to_tensor(x)))
    np.testing.assert_array_equal(out, x[:, ::2, ::2, :])
    assert not np.allclose(out, _ref_avg_pool(x))

    # The whole generator follows subsampling: a reference that pools
    # instead of subsampling gives different masks.
    layer = _generator(norm="none")
    images = _images()
    masks = _np(layer(images))
    pooled = _ref_forward(layer, images, _ref_avg_pool)
    subsampled = _ref_forward(layer, images, _ref_subsample)
    np.testing.assert_allclose(masks, subsampled, atol=2e-5)
    assert np.abs(masks - pooled).max() > 1e-3


# --------------------------------------------------------------------------- #
# Architecture
# --------------------------------------------------------------------------- #


def test_depth_from_image_size():
    for size, blocks, bottleneck in [
        (16, 3, 4),
        (32, 4, 4),
        (64, 5, 4),
        (96, 5, 6),
        (224, 6, 7),
    ]:
        layer = _build_shapes_only(_generator(), (None, size, size, 3))
        assert layer.num_blocks is None
        assert layer.resolved_num_blocks == blocks, size
        assert layer.bottleneck_size == bottleneck, size
        assert len(layer.encoder_convs) == blocks
        assert len(layer.decoder_convs) == blocks
    assert [default_num_blocks(s) for s in (16, 32, 64, 96, 224)] == [3, 4, 5, 5, 6]


def test_num_blocks_override():
    for num_blocks, bottleneck in [(3, 8), (4, 4), (6, 1)]:
        layer = _generator(num_blocks=num_blocks)
        _build_shapes_only(layer, (None, 32, 32, 3))
        assert layer.num_blocks == num_blocks
        assert layer.resolved_num_blocks == num_blocks
        assert layer.bottleneck_size == bottleneck
        assert len(layer.encoder_convs) == num_blocks
        assert len(layer.decoder_convs) == num_blocks
    # The deepest UNet for 32 px has a 1x1 bottleneck: 2c -> units -> 2c.
    dense = [tuple(d.kernel.shape) for d in layer.bottleneck_dense]
    assert dense == [(16, 128), (128, 128), (128, 16)]
    assert layer.compute_output_shape((None, 32, 32, 3)) == (None, 32, 32, MASKS)


# The table of the reference notes (official unet.py:23-37), c = filters.
_TABLE = {
    4: ([3, 1, 2, 2], [1, 2, 2, 2], [4, 4, 4, 2], [2, 2, 1, 1]),
    5: ([3, 1, 1, 2, 2], [1, 1, 2, 2, 2], [4, 4, 4, 2, 2], [2, 2, 1, 1, 1]),
    6: (
        [3, 1, 1, 1, 2, 2],
        [1, 1, 1, 2, 2, 2],
        [4, 4, 4, 2, 2, 2],
        [2, 2, 1, 1, 1, 1],
    ),
}


@pytest.mark.parametrize("size, num_blocks", [(32, 4), (64, 5)])
def test_channel_plan_matches_reference_table(size, num_blocks):
    c, num_masks, units = 8, 3, 16
    layer = MaskGenerator(num_masks, filters=c, bottleneck_units=units)
    _build_shapes_only(layer, (None, size, size, 3))
    assert layer.resolved_num_blocks == num_blocks
    enc_in, enc_out, dec_in, dec_out = _TABLE[num_blocks]
    enc_in = [3] + [m * c for m in enc_in[1:]]
    expected_enc = [(3, 3, i, o * c) for i, o in zip(enc_in, enc_out)]
    expected_dec = [(3, 3, i * c, o * c) for i, o in zip(dec_in, dec_out)]
    assert [tuple(v.kernel.shape) for v in layer.encoder_convs] == expected_enc
    assert [tuple(v.kernel.shape) for v in layer.decoder_convs] == expected_dec
    f = size // 2 ** (num_blocks - 1)
    flat = 2 * c * f * f
    assert [tuple(d.kernel.shape) for d in layer.bottleneck_dense] == [
        (flat, units),
        (units, units),
        (units, flat),
    ]
    assert tuple(layer.head.kernel.shape) == (1, 1, c, num_masks)
    assert tuple(layer.head.bias.shape) == (num_masks,)


def test_channel_plan_function_for_all_table_depths():
    c = 32
    for num_blocks, (_, enc_out, _, dec_out) in _TABLE.items():
        encoder, decoder = channel_plan(num_blocks, c)
        assert encoder == [m * c for m in enc_out]
        assert decoder == [m * c for m in dec_out]
    assert channel_plan(3, c) == ([2 * c] * 3, [2 * c, 2 * c, c])


def test_variables_per_norm():
    for norm, expected_count, conv_bias in [
        ("group", 6 * 4 + 8, False),
        ("instance", 6 * 4 + 8, False),
        ("none", 4 * 4 + 8, True),
    ]:
        layer = _generator(norm=norm)
        _build_shapes_only(layer, (None, 32, 32, 3))  # 4 blocks
        assert len(layer.weights) == expected_count, norm
        assert len(layer.trainable_weights) == expected_count, norm
        assert len(layer.non_trainable_weights) == 0
        convs = layer.encoder_convs + layer.decoder_convs
        assert all((conv.bias is not None) == conv_bias for conv in convs)
        norms = layer.encoder_norms + layer.decoder_norms
        if norm == "none":
            assert norms == []
            continue
        assert len(norms) == 8
        for conv, norm_layer in zip(convs, norms):
            channels = conv.kernel.shape[-1]
            assert norm_layer.groups == (8 if norm == "group" else channels)
            assert norm_layer.epsilon == 1e-5
            assert tuple(norm_layer.gamma.shape) == (channels,)
            assert tuple(norm_layer.beta.shape) == (channels,)


def test_instance_norm_allows_filters_not_divisible_by_8():
    layer = MaskGenerator(num_masks=2, filters=6, norm="instance")
    _build_shapes_only(layer, (None, 16, 16, 3))
    assert [tuple(c.kernel.shape) for c in layer.encoder_convs] == [
        (3, 3, 3, 12),
        (3, 3, 12, 12),
        (3, 3, 12, 12),
    ]
    assert [n.groups for n in layer.decoder_norms] == [12, 12, 6]


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #


_INVALID_ARGUMENTS = [
    ({"num_masks": 0}, r"`num_masks` of MaskGenerator must be an integer >= 2\..*Received: num_masks=0"),
    ({"num_masks": 2.0}, r"Received: num_masks=2\.0"),
    ({"num_masks": True}, r"Received: num_masks=True"),
    ({"num_masks": 2, "filters": 0}, r"`filters` must be .* Received: filters=0"),
    ({"num_masks": 2, "filters": 12}, r"divisible by 8.*Received: filters=12"),
    ({"num_masks": 2, "norm": "batch"}, r"`norm` must be one of .*Received: norm='batch'"),
    ({"num_masks": 2, "num_blocks": 2}, r"`num_blocks` must be .*Received: num_blocks=2"),
    ({"num_masks": 2, "bottleneck_units": 0}, r"Received: bottleneck_units=0"),
]


def test_invalid_constructor_arguments():
    for kwargs, match in _INVALID_ARGUMENTS:
        with pytest.raises(ValueError, match=match):
            MaskGenerator(**kwargs)


_INVALID_SHAPES = [
    ({}, (2, 32, 32), r"expects 4D images.*Received: input_shape=\(2, 32, 32\)"),
    ({}, (2, 32, 16, 3), r"square images.*Received: input_shape=\(2, 32, 16, 3\)"),
    ({}, (2, 8, 8, 3), r"at least 16x16.*Received: input_shape=\(2, 8, 8, 3\)"),
    ({}, (2, None, None, 3), r"static image size.*Received: input_shape"),
        # Default depth for 36 px is 4, and 36 is not divisible by 8.
    ({}, (2, 36, 36, 3), r"divisible by 2\*\*\(num_blocks - 1\) = 8.*Received: input_shape=\(2, 36, 36, 3\)"),
    ({"num_blocks": 7}, (2, 32, 32, 3), r"num_blocks=7.* = 64.*Received: input_shape"),
]


def test_invalid_input_shapes_at_build():
    for kwargs, shape, match in _INVALID_SHAPES:
        layer = MaskGenerator(num_masks=2, filters=8, **kwargs)
        with pytest.raises(ValueError, match=match):
            layer.build(shape)
        assert not layer.built


def test_invalid_inputs_at_call():
    layer = _generator()
    layer(_images())
    with pytest.raises(ValueError, match=r"built for images with 3 channels.*with 1 channels\. Received: input_shape=\(2, 32, 32, 1\)"):
        layer(_images(channels=1))
    with pytest.raises(ValueError, match=r"built for 32x32 images.*Received: input_shape=\(2, 16, 16, 3\)"):
        layer(_images(size=16))
    with pytest.raises(ValueError, match=r"square images.*Received: input_shape=\(2, 32, 16, 3\)"):
        layer(np.zeros((2, 32, 16, 3), "float32"))
    with pytest.raises(ValueError, match=r"expects 4D images.*Received: input_shape=\(32, 32, 3\)"):
        layer(np.zeros((32, 32, 3), "float32"))


# --------------------------------------------------------------------------- #
# Serialization
# --------------------------------------------------------------------------- #


def test_get_config_round_trip():
    layer = MaskGenerator(
        num_masks=5,
        filters=8,
        norm="instance",
        num_blocks=3,
        bottleneck_units=32,
        name="masker",
    )
    config = layer.get_config()
    for key, value in {
        "num_masks": 5,
        "filters": 8,
        "norm": "instance",
        "num_blocks": 3,
        "bottleneck_units": 32,
        "name": "masker",
    }.items():
        assert config[key] == value
    revived = run_serialization_test(layer)
    revived = MaskGenerator.from_config(config)
    _build_shapes_only(revived, (None, 16, 16, 3))
    _build_shapes_only(layer, (None, 16, 16, 3))
    assert [tuple(v.shape) for v in revived.weights] == [
        tuple(v.shape) for v in layer.weights
    ]


# Keras' own weight saving calls np.array on variables (NumPy 2 warns).
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_save_and_load_keras_file(tmp_path):
    inputs = keras.Input((SIZE, SIZE, 3))
    outputs = _generator(norm="group")(inputs)
    model = keras.Model(inputs, outputs)
    images = _images()
    expected = _np(model(images))
    path = str(tmp_path / "mask_generator.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[-1], MaskGenerator)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()
    assert_allclose(loaded(images), expected, atol=1e-6, rtol=1e-6)


def test_docstring_example_runs(docstring_example):
    namespace = {}
    exec(docstring_example(MaskGenerator), namespace)
    masks = _np(namespace["masks"])
    assert masks.shape == (2, 32, 32, 4)
    np.testing.assert_allclose(masks.sum(-1), 1.0, atol=1e-5)
    assert tuple(namespace["first_masked_view"].shape) == (2, 32, 32, 3)


# --------------------------------------------------------------------------- #
# Backends: jit and gradients
# --------------------------------------------------------------------------- #


def test_jitted_call_matches_eager(run_jitted):
    layer = _generator()
    images = _images()
    eager = _np(layer(images))
    (jitted,) = run_jitted(layer, images)
    assert jitted.shape == (BATCH, SIZE, SIZE, MASKS)
    np.testing.assert_allclose(jitted, eager, atol=1e-5)
    np.testing.assert_allclose(jitted.sum(-1), 1.0, atol=1e-5)


def _gradients(layer, images, weights):
    """Gradients of sum(masks * weights) w.r.t. the trainable variables."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(images) * weights)
        grads = tape.gradient(loss, layer.trainable_variables)
        return [None if g is None else g.numpy() for g in grads]
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(trainable):
            masks, _ = layer.stateless_call(trainable, non_trainable, images)
            return jnp.sum(masks * weights)

        return [np.asarray(g) for g in jax.jit(jax.grad(loss_fn))(trainable)]
    if backend == "torch":
        import torch

        loss = torch.sum(layer(images) * torch.as_tensor(weights))
        loss.backward()
        return [
            None if v.value.grad is None else v.value.grad.numpy()
            for v in layer.trainable_variables
        ]
    raise AssertionError(backend)


def test_gradients_reach_every_variable():
    layer = _generator()
    images = _images()
    layer.build(images.shape)
    weights = np.random.default_rng(1).normal(size=(BATCH, SIZE, SIZE, MASKS))
    grads = _gradients(layer, images, weights.astype("float32"))
    assert len(grads) == len(layer.trainable_variables) == 6 * 4 + 8
    for variable, grad in zip(layer.trainable_variables, grads):
        assert grad is not None, variable.path
        assert grad.shape == tuple(variable.shape)
        assert np.all(np.isfinite(grad)), variable.path
        assert np.abs(grad).max() > 0.0, variable.path


class _GroupNormOps(keras.layers.Layer):
    """`group_norm` on the weights of a wrapped `GroupNormalization` layer."""

    def __init__(self, norm):
        super().__init__()
        self.norm = norm

    def call(self, x):
        return group_norm(x, self.norm.gamma, self.norm.beta, self.norm.groups, self.norm.epsilon)


@pytest.mark.parametrize("groups", [8, 16])  # 16 = one group per channel (instance)
def test_group_norm_matches_keras_group_normalization(groups):
    rng = np.random.default_rng(groups)
    # Off-centre activations: a one-pass variance would lose digits here.
    x = (3.0 + 2.0 * rng.normal(size=(3, 8, 8, 16))).astype("float32")
    gamma_beta = [rng.normal(size=16).astype("float32") for _ in range(2)]
    layers = []
    for _ in range(2):  # separate variables: torch accumulates `.grad`
        norm = keras.layers.GroupNormalization(groups=groups, axis=-1, epsilon=1e-5)
        norm.build(x.shape)
        norm.set_weights(gamma_beta)
        layers.append(norm)
    fast = _GroupNormOps(layers[1])
    np.testing.assert_allclose(_np(fast(x)), _np(layers[0](x)), atol=2e-5)
    weights = rng.normal(size=x.shape).astype("float32")
    for got, want in zip(_gradients(fast, x, weights), _gradients(layers[0], x, weights)):
        np.testing.assert_allclose(got, want, atol=2e-4, rtol=1e-4)


def test_mixed_precision_outputs_float32_masks():
    layer = _generator(dtype="mixed_bfloat16")
    masks = layer(_images())
    assert keras.backend.standardize_dtype(masks.dtype) == "float32"
    assert layer.encoder_convs[0].compute_dtype == "bfloat16"
    assert keras.backend.standardize_dtype(layer.encoder_convs[0].kernel.dtype) == "float32"
    np.testing.assert_allclose(_np(masks).sum(-1), 1.0, atol=1e-5)
    symbolic = layer(keras.Input((SIZE, SIZE, 3)))
    assert symbolic.dtype == "float32"
    assert tuple(symbolic.shape) == (None, SIZE, SIZE, MASKS)
