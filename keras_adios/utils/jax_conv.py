"""A 2-D convolution for JAX whose kernel gradient is computed as matrix products.

Why: on a CPU, XLA lowers the weight gradient of a convolution (the
"backprop filter" convolution, which contracts over the batch and the spatial
positions) to a slow generic loop. Measured on the 2-core CPU of this
project's benchmarks (`benchmarks/conv_gradients.py`, 3x3 convolution, 64 -> 64
channels, batch 256, 34 x 34 maps): the kernel gradient is 24.6x slower than
PyTorch's, the forward 3.15x and the input gradient 0.60x.
Written instead as one matrix product per kernel tap,

    dL/dK[dy, dx] = sum_{n, h, w} x[n, s*h + dy, s*w + dx, :]^T g[n, h, w, :],

the same sum runs through XLA's fast matrix multiplication (9.2x faster than
XLA's own kernel gradient there). The forward and the input gradient are
XLA's own. The numbers are the same up to float rounding (the order of the
summation differs).

Only used by `keras_adios.layers.Conv2D` on the JAX backend; never imported
on other backends.
"""

import functools

import jax
import jax.numpy as jnp

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def _conv(x, kernel, strides):
    return jax.lax.conv_general_dilated(
        x, kernel, window_strides=strides, padding="VALID", dimension_numbers=_DIMENSION_NUMBERS
    )


def kernel_gradient(x, grad, kernel_shape, strides):
    """The gradient of a `"VALID"` NHWC convolution w.r.t. its HWIO kernel.

    One matrix product per kernel tap, in a `fori_loop` over the taps: the
    loop keeps one tap's input patch alive at a time (unrolled, XLA computed
    the patches of every convolution of a network early and kept them all:
    29.7 GB for ResNet-18 width 64 at batch 256).

    Args:
        x: the convolution's input, `(n, height, width, in_channels)`.
        grad: the gradient w.r.t. its output, `(n, out_height, out_width, out_channels)`.
        kernel_shape: `(kh, kw, in_channels, out_channels)`.
        strides: `(sh, sw)`.

    Returns:
        An array of `kernel_shape`, accumulated in float32, in `grad`'s dtype.
    """
    kh, kw, channels, out_channels = kernel_shape
    n, out_h, out_w, _ = grad.shape
    sh, sw = strides
    grad2d = grad.reshape(-1, out_channels)
    span_h, span_w = sh * (out_h - 1) + 1, sw * (out_w - 1) + 1

    def tap(t, taps):
        # The input pixels that kernel tap (dy, dx) meets, one row per output position.
        window = jax.lax.dynamic_slice(x, (0, t // kw, t % kw, 0), (n, span_h, span_w, channels))
        patch = window[:, ::sh, ::sw, :].reshape(-1, channels)
        return taps.at[t].set(jnp.matmul(patch.T, grad2d, preferred_element_type=jnp.float32))

    taps = jax.lax.fori_loop(0, kh * kw, tap, jnp.zeros((kh * kw, channels, out_channels), jnp.float32))
    return taps.reshape(kernel_shape).astype(grad.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv2d_valid(x, kernel, strides):
    """`"VALID"` NHWC / HWIO convolution (no dilation, one group) with a matmul kernel gradient."""
    return _conv(x, kernel, strides)


def _forward(x, kernel, strides):
    return _conv(x, kernel, strides), (x, kernel)


def _backward(strides, residuals, grad):
    x, kernel = residuals
    # XLA's own input gradient (the forward it would recompute here is unused and pruned under jit).
    _, input_vjp = jax.vjp(lambda inputs: _conv(inputs, kernel, strides), x)
    (grad_x,) = input_vjp(grad)
    grad_kernel = kernel_gradient(x, grad, kernel.shape, strides).astype(kernel.dtype)
    return grad_x, grad_kernel


conv2d_valid.defvjp(_forward, _backward)


def same_padding(size, kernel, stride):
    """(before, after) zeros of Keras/TensorFlow `"same"` padding along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, strides, padding):
    """`"valid"` or `"same"` NHWC convolution with the matmul kernel gradient."""
    if padding == "same":
        pads = [same_padding(int(x.shape[1 + i]), int(kernel.shape[i]), strides[i]) for i in range(2)]
        x = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    return conv2d_valid(x, kernel, tuple(int(s) for s in strides))


def on_cpu():
    """Whether JAX computes on a CPU (where XLA's kernel gradient is slow)."""
    return jax.default_backend() == "cpu"
