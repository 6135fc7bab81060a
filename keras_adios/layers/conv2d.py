"""Keras' Conv2D, with a fast kernel gradient for JAX on CPUs."""

import keras

KERNEL_GRADIENTS = ("auto", "backend", "matmul")


@keras.saving.register_keras_serializable(package="keras_adios")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D`, with a fast kernel gradient on JAX CPUs.

    Identical to Keras' layer (same arguments, weights and forward numbers).
    Two differences, both in the backward pass:

    * On the JAX backend on a CPU, the gradient w.r.t. the kernel is computed
      as one matrix product per kernel tap (a loop over the taps). XLA's CPU
      backend runs its own "backprop filter" convolution through a slow
      generic loop: 24.6x slower than PyTorch's for a 3x3, 64-channel
      convolution at batch 256 on a 2-core CPU, against 2.7x for the products
      (`benchmarks/conv_gradients.py`); ResNet-18's supervised step (width 64,
      batch 256) went from 4.6x to 1.2x PyTorch's time with it. The forward pass and
      the gradient w.r.t. the inputs stay XLA's own; the kernel gradient
      equals XLA's up to float rounding.
    * On PyTorch, a strided 1x1 channels-last convolution (a ResNet
      projection shortcut) runs as the stride-1 convolution of every s-th
      pixel: the same numbers, avoiding a wrong kernel gradient of torch
      2.13's CPU kernel for that case.

    The ResNet encoders and `MaskGenerator` use this layer.

    Args:
        kernel_gradient: `"auto"` (default): the matrix-product kernel
            gradient on the JAX backend when JAX computes on a CPU and the
            convolution is supported (channels-last, `"valid"` padding with
            any stride or `"same"` padding with stride 1, no dilation, one
            group), the backend's own otherwise; `"matmul"`: the
            matrix-product gradient wherever it is supported on JAX (also on
            accelerators); `"backend"`: always the backend's own, as
            `keras.layers.Conv2D`. On TensorFlow and PyTorch every value is
            the backend's own.
        **kwargs: the arguments of `keras.layers.Conv2D`.

    Example:

    ```python
    import numpy as np
    import keras_adios

    conv = keras_adios.layers.Conv2D(8, 3, padding="valid", kernel_gradient="matmul")
    conv(np.ones((2, 16, 16, 3), "float32")).shape  # (2, 14, 14, 8)
    ```
    """

    def __init__(self, *args, kernel_gradient="auto", **kwargs):
        super().__init__(*args, **kwargs)
        if kernel_gradient not in KERNEL_GRADIENTS:
            raise ValueError(
                f"`kernel_gradient` must be one of {KERNEL_GRADIENTS}. "
                f"Received: kernel_gradient={kernel_gradient!r}"
            )
        self.kernel_gradient = kernel_gradient

    def _uses_matmul_gradient(self):
        if self.kernel_gradient == "backend" or keras.backend.backend() != "jax":
            return False
        supported = (
            self.data_format == "channels_last"
            and tuple(self.dilation_rate) == (1, 1)
            and self.groups == 1
            and (self.padding == "valid" or (self.padding == "same" and tuple(self.strides) == (1, 1)))
        )
        if not supported:
            return False
        if self.kernel_gradient == "matmul":
            return True
        from keras_adios.utils import jax_conv

        return jax_conv.on_cpu()

    def _is_strided_pointwise_channels_last(self):
        return (
            self.data_format == "channels_last"
            and tuple(self.kernel_size) == (1, 1)
            and tuple(self.strides) != (1, 1)
            and tuple(self.dilation_rate) == (1, 1)
            and self.padding == "valid"
        )

    def convolution_op(self, inputs, kernel):
        if keras.backend.backend() == "torch" and self._is_strided_pointwise_channels_last():
            # torch 2.13 on CPUs computes a wrong kernel gradient for a strided 1x1
            # convolution of a channels-last input of even size (Keras' channels-last
            # convolution hands torch exactly that layout). A 1x1 "valid" convolution
            # with stride s is the stride-1 convolution of every s-th pixel: the same
            # numbers, through torch's correct stride-1 kernel.
            sh, sw = self.strides
            return keras.ops.conv(inputs[:, ::sh, ::sw, :], kernel, strides=1, padding="valid",
                                  data_format="channels_last")
        if not self._uses_matmul_gradient():
            return super().convolution_op(inputs, kernel)
        from keras_adios.utils import jax_conv

        return jax_conv.conv2d(
            keras.ops.convert_to_tensor(inputs), keras.ops.convert_to_tensor(kernel), self.strides, self.padding
        )

    def get_config(self):
        return {**super().get_config(), "kernel_gradient": self.kernel_gradient}
