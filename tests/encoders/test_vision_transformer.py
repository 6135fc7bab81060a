"""VisionTransformer / ViTTiny: timm's parameter counts, a NumPy forward, saving, ADIOS on this backend."""

import os

import keras
import numpy as np
import pytest
from scipy.special import erf

from harness import run_docstring_example, run_model_saving_test, run_serialization_test
from keras_adios import ADIOS
from keras_adios.encoders import ViTTiny, VisionTransformer
from keras_adios.layers import MaskGenerator
from keras_adios.objectives import SimCLR

SMALL = dict(input_shape=(16, 16, 3), patch_size=8, dim=16, depth=2, num_heads=2)


def test_vit_tiny_has_timms_parameter_count_and_feature_width():
    # timm's vit_tiny_patch16_224 has 5,717,416 parameters with its 1000-class head
    # (192 * 1000 + 1000 = 193,000): 5,524,416 without. At 96 px, 36 + 1 instead of
    # 196 + 1 position embeddings: 160 * 192 = 30,720 fewer.
    assert ViTTiny(input_shape=(224, 224, 3)).count_params() == 5_717_416 - 193_000
    encoder = ViTTiny()
    assert encoder.count_params() == 5_524_416 - 160 * 192
    assert tuple(encoder(np.zeros((2, 96, 96, 3), "float32")).shape) == (2, 192)
    assert encoder.feature_dim == 192 and encoder.get_layer("patch_embed_proj").kernel.shape == (16, 16, 3, 192)


def _np(t):
    return keras.ops.convert_to_numpy(t).astype("float64")


def _layer_norm(x, layer):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * _np(layer.gamma) + _np(layer.beta)


def _numpy_vit(model, images, patch, dim, depth, heads):
    """timm's VisionTransformer.forward_features + class-token pooling, in NumPy."""
    b, h, w, _ = images.shape
    grid = images.reshape(b, h // patch, patch, w // patch, patch, 3).transpose(0, 1, 3, 2, 4, 5)
    conv = model.get_layer("patch_embed_proj")
    tokens = grid.reshape(b, -1, patch * patch * 3) @ _np(conv.kernel).reshape(-1, dim) + _np(conv.bias)
    embed = model.get_layer("token_embedding")
    x = np.concatenate([np.broadcast_to(_np(embed.class_token), (b, 1, dim)), tokens], 1) + _np(embed.positions)
    head_dim = dim // heads
    for i in range(depth):
        y = _layer_norm(x, model.get_layer(f"blocks_{i}_norm1"))
        attn = model.get_layer(f"blocks_{i}_attn")
        q, k, v = (np.einsum("bnd,dhk->bhnk", y, _np(p.kernel)) + _np(p.bias)[None, :, None]
                   for p in (attn._query_dense, attn._key_dense, attn._value_dense))
        logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim)
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        out = np.einsum("bhnk,hkd->bnd", weights @ v, _np(attn._output_dense.kernel)) + _np(attn._output_dense.bias)
        x = x + out
        y = _layer_norm(x, model.get_layer(f"blocks_{i}_norm2"))
        fc1, fc2 = model.get_layer(f"blocks_{i}_mlp_fc1"), model.get_layer(f"blocks_{i}_mlp_fc2")
        y = y @ _np(fc1.kernel) + _np(fc1.bias)
        y = 0.5 * y * (1 + erf(y / np.sqrt(2)))  # exact GELU, as torch's nn.GELU
        x = x + y @ _np(fc2.kernel) + _np(fc2.bias)
    return _layer_norm(x, model.get_layer("norm"))[:, 0]


def test_forward_matches_a_numpy_transcription_of_timm():
    keras.utils.set_random_seed(0)
    model = VisionTransformer(**SMALL)
    rng = np.random.default_rng(0)
    # Non-trivial class token and positions (they start near zero / small).
    model.set_weights([w + rng.normal(scale=0.3, size=w.shape).astype("float32") for w in model.get_weights()])
    images = rng.normal(size=(3, 16, 16, 3)).astype("float32")
    expected = _numpy_vit(model, images.astype("float64"), patch=8, dim=16, depth=2, heads=2)
    np.testing.assert_allclose(_np(model(images)), expected, rtol=2e-4, atol=2e-4)


def test_config_and_saving_round_trip(tmp_path):
    model = VisionTransformer(**SMALL, mlp_ratio=2.0)
    revived = run_serialization_test(model, dict(SMALL, mlp_ratio=2.0))
    assert revived.count_params() == model.count_params()
    images = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    run_model_saving_test(model, images, os.path.join(tmp_path, "vit.keras"), atol=1e-5)
    tiny = run_serialization_test(ViTTiny(input_shape=(32, 32, 3), patch_size=8), {"patch_size": 8})
    assert tiny.dim == 192 and tiny.depth == 12


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (20, 16, 3)}, r"divisible by `patch_size`.*input_shape=\(20, 16, 3\), patch_size=8"),
        ({"input_shape": (None, None, 3)}, r"fixed image size"),
        ({"dim": 15}, r"divisible by `num_heads`. Received: dim=15, num_heads=2"),
        ({"depth": 0}, r"depth.*Received: depth=0"),
        ({"mlp_ratio": 0}, r"mlp_ratio.*Received: mlp_ratio=0"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VisionTransformer(**dict(SMALL, **kwargs))


def test_adios_trains_a_vit_on_this_backend():
    keras.utils.set_random_seed(0)
    encoder = VisionTransformer(**SMALL)
    model = ADIOS(encoder, MaskGenerator(num_masks=2, filters=8), objective=SimCLR(hidden_dim=16, projection_dim=8))
    model.compile(encoder_optimizer=keras.optimizers.SGD(0.1), masker_optimizer=keras.optimizers.SGD(0.1))
    rng = np.random.default_rng(0)
    views = tuple(rng.normal(size=(4, 16, 16, 3)).astype("float32") for _ in range(2))
    before = [_np(w) for w in encoder.weights]
    logs = model.train_on_batch(views, return_dict=True)
    assert np.isfinite(logs["loss"]) and np.isfinite(logs["masker_loss"])
    moved = {w.path: not np.allclose(b, _np(w)) for b, w in zip(before, encoder.weights)}
    # Every weight learns except the key biases: q.(k + b) adds the same q.b to every
    # key's logit, which the softmax ignores, so their gradient is exactly zero (as in timm).
    assert sorted(p for p, m in moved.items() if not m) == [f"blocks_{i}_attn/key/bias" for i in (0, 1)]


@pytest.mark.parametrize("cls", [VisionTransformer, ViTTiny])
def test_docstring_examples_run(cls):
    run_docstring_example(cls)
