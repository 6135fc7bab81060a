"""`keras_adios.layers.Conv2D`: Keras' Conv2D with the matrix-product kernel gradient on JAX."""

import keras
import numpy as np
import pytest

from harness import run_docstring_example, run_jitted, run_model_saving_test, run_serialization_test
from keras_adios.layers import Conv2D

# (kernel, strides, padding, input size): every convolution the ResNet encoders and the UNet use.
CASES = [
    (3, 1, "valid", 9),
    (3, 2, "valid", 10),  # even input, stride 2: the last row and column are never met
    (3, 2, "valid", 9),
    (1, 2, "valid", 8),  # projection shortcut
    (1, 1, "valid", 5),
    (3, 1, "same", 7),
    (7, 2, "valid", 15),  # ImageNet stem
]


def loss_and_gradients(layer, x, upstream):
    """`sum(layer(x) * upstream)` and its gradients w.r.t. the input and the kernel, as NumPy."""
    backend = keras.backend.backend()
    kernel = layer.kernel
    if backend == "jax":
        import jax

        def f(inputs, k):
            return (layer.convolution_op(inputs, k) * upstream).sum()

        gx, gk = jax.jit(jax.grad(f, argnums=(0, 1)))(x, kernel.value)
        return np.asarray(gx), np.asarray(gk)
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(layer.convolution_op(t, kernel) * upstream)
        gx, gk = tape.gradient(loss, [t, kernel.value])
        return gx.numpy(), gk.numpy()
    import torch

    t = torch.tensor(x, requires_grad=True)
    loss = (layer.convolution_op(t, kernel.value) * torch.tensor(upstream)).sum()
    gx, gk = torch.autograd.grad(loss, [t, kernel.value])
    return gx.detach().cpu().numpy(), gk.detach().cpu().numpy()


def numpy_kernel_gradient(x, upstream, kernel, strides, padding):
    """d sum(conv(x, K) * upstream) / dK by NumPy: one product per kernel tap."""
    if padding == "same":  # stride 1: (kernel - 1) zeros, the extra one after
        before = (kernel - 1) // 2
        x = np.pad(x, ((0, 0), (before, kernel - 1 - before), (before, kernel - 1 - before), (0, 0)))
    out_h, out_w = upstream.shape[1:3]
    return np.stack([
        np.stack([
            np.einsum("nhwc,nhwo->co",
                      x[:, dy:dy + strides * (out_h - 1) + 1:strides, dx:dx + strides * (out_w - 1) + 1:strides],
                      upstream)
            for dx in range(kernel)])
        for dy in range(kernel)])


def pair(kernel, strides, padding, channels=(5, 6)):
    """keras_adios' layer forced onto the matmul gradient and Keras' own, same weights."""
    ours = Conv2D(channels[1], kernel, strides=strides, padding=padding, use_bias=False,
                  kernel_gradient="matmul")
    theirs = keras.layers.Conv2D(channels[1], kernel, strides=strides, padding=padding, use_bias=False)
    return ours, theirs


@pytest.mark.parametrize("kernel,strides,padding,size", CASES)
def test_matches_keras_forward_and_gradients(kernel, strides, padding, size):
    rng = np.random.default_rng(kernel * 100 + strides * 10 + size)
    x = rng.normal(size=(3, size, size, 5)).astype("float32")
    ours, theirs = pair(kernel, strides, padding)
    ours.build(x.shape), theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    out = keras.ops.convert_to_numpy(ours(x))
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(theirs(x)), atol=1e-5)
    upstream = rng.normal(size=out.shape).astype("float32")
    (gx, gk), (rx, rk) = (loss_and_gradients(layer, x, upstream) for layer in (ours, theirs))
    np.testing.assert_allclose(gx, rx, atol=1e-4, rtol=1e-4)
    expected = numpy_kernel_gradient(x, upstream, kernel, strides, padding)
    np.testing.assert_allclose(gk, expected, atol=1e-4, rtol=1e-4)
    assert np.abs(expected).max() > 0.1
    if not (keras.backend.backend() == "torch" and kernel == 1 and strides > 1):
        # Keras' own layer agrees (except on torch 2.13 there: see the next test).
        np.testing.assert_allclose(rk, expected, atol=1e-4, rtol=1e-4)


def test_strided_pointwise_kernel_gradient_on_torch_is_right(backend):
    # torch 2.13's CPU kernel gets this case wrong for channels-last inputs of even
    # size, which is what Keras' channels-last convolution hands it; the layer avoids it.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 8, 5)).astype("float32")
    layer = Conv2D(6, 1, strides=2, use_bias=False)
    out = keras.ops.convert_to_numpy(layer(x))
    upstream = rng.normal(size=out.shape).astype("float32")
    for _ in range(3):  # the wrong numbers also changed from call to call
        _, gk = loss_and_gradients(layer, x, upstream)
        np.testing.assert_allclose(gk, numpy_kernel_gradient(x, upstream, 1, 2, "valid"), atol=1e-4, rtol=1e-4)


def test_kernel_gradient_against_a_hand_computation(backend):
    # 1x1 convolution, stride 1: dL/dK[c, o] = sum_{n,h,w} x[n,h,w,c] * g[n,h,w,o].
    x = np.arange(2 * 2 * 2 * 3, dtype="float32").reshape(2, 2, 2, 3) / 10
    upstream = np.ones((2, 2, 2, 4), "float32")
    layer = Conv2D(4, 1, use_bias=False, kernel_gradient="matmul")
    layer.build(x.shape)
    _, gk = loss_and_gradients(layer, x, upstream)
    expected = np.repeat(x.reshape(-1, 3).sum(0)[:, None], 4, axis=1)
    np.testing.assert_allclose(gk[0, 0], expected, rtol=1e-6)


def test_which_gradient_is_used(backend):
    auto = Conv2D(2, 3, strides=2)
    matmul = Conv2D(2, 3, strides=2, kernel_gradient="matmul")
    strided_same = Conv2D(2, 3, strides=2, padding="same", kernel_gradient="matmul")
    dilated = Conv2D(2, 3, dilation_rate=2, kernel_gradient="matmul")
    never = Conv2D(2, 3, kernel_gradient="backend")
    assert auto.kernel_gradient == "auto"
    assert matmul._uses_matmul_gradient() == (backend == "jax")
    if backend == "jax":
        import jax

        assert auto._uses_matmul_gradient() == (jax.default_backend() == "cpu")
    else:
        assert not auto._uses_matmul_gradient()
    assert not strided_same._uses_matmul_gradient()  # unsupported: the backend's own
    assert not dilated._uses_matmul_gradient()
    assert not never._uses_matmul_gradient()


def test_serialization_and_saving(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    layer = Conv2D(4, 3, strides=2, kernel_gradient="matmul")
    assert tuple(layer(x).shape) == (2, 3, 3, 4)
    revived = run_serialization_test(layer, {"filters": 4, "kernel_gradient": "matmul"})
    assert revived.kernel_gradient == "matmul"
    inputs = keras.Input((8, 8, 3))
    run_model_saving_test(keras.Model(inputs, layer(inputs)), x, str(tmp_path / "conv.keras"), atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(run_jitted(layer, x)[0]),
                               keras.ops.convert_to_numpy(layer(x)), atol=1e-5)


def test_rejects_unknown_kernel_gradient():
    with pytest.raises(ValueError, match=r"`kernel_gradient` must be one of .*Received: kernel_gradient='xla'"):
        Conv2D(2, 3, kernel_gradient="xla")


def test_docstring_example():
    run_docstring_example(Conv2D)
