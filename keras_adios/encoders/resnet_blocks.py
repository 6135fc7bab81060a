"""Private building blocks shared by the ResNet encoders.

Nothing here is public API: `ResNet18` and `SmallResNet` are assembled from
these functions so that the residual block, the normalisation factory and the
argument checks exist exactly once.

The blocks follow torchvision's `BasicBlock` so that weights can be ported
one-to-one:

* every 3x3 convolution pads by 1 on each side (`ZeroPadding2D(1)` followed
  by a `"valid"` convolution), which matches PyTorch's symmetric padding also
  for stride 2 (Keras' `"same"` padding would pad only bottom/right);
* convolutions followed by a normalisation layer have no bias;
* the projection shortcut is a 1x1 convolution (with the block's stride)
  plus normalisation, used whenever the block changes the shape;
* BatchNorm uses epsilon 1e-5 and momentum 0.9 (PyTorch's momentum 0.1);
* convolution kernels use torchvision's He-normal "fan_out" initialisation.
"""

import math

import keras

from keras_adios.layers.batch_normalization import BatchNormalization
from keras_adios.layers.conv2d import Conv2D

from keras_adios.utils import validation

NORM_OPTIONS = ("batch", "sync_batch", "group", "none")
FEATURE_LAYOUTS = ("auto", "channels_last", "channels_first")

_BN_EPSILON = 1e-5
_BN_MOMENTUM = 0.9  # PyTorch momentum 0.1.
_GN_EPSILON = 1e-5
_MAX_GROUPS = 32


def conv_initializer():
    # torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu").
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def check_norm(norm):
    """Validates `norm`; raises a `ValueError` with the accepted values."""
    if norm not in NORM_OPTIONS:
        raise ValueError(
            f"`norm` must be one of {NORM_OPTIONS}. Received: norm={norm!r}"
        )
    if norm == "sync_batch" and keras.backend.backend() == "jax":
        raise ValueError(
            "`norm='sync_batch'` (synchronised BatchNorm) is supported on the TensorFlow "
            "(tf.distribute) and PyTorch (torch.distributed) backends; on JAX, "
            "keras.distribution.DataParallel already uses global batch statistics: use "
            f"norm='batch'. Received: norm={norm!r} on the 'jax' backend"
        )


def check_input_shape(input_shape):
    """Validates an `(height, width, channels)` image shape; returns a tuple."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    valid = shape is not None and len(shape) == 3
    if valid:
        for i, dim in enumerate(shape):
            if dim is None and i < 2:
                continue
            if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
                valid = False
    if not valid:
        raise ValueError(
            "`input_shape` must be a tuple `(height, width, channels)` of "
            "positive integers (height and width may be None). "
            f"Received: input_shape={input_shape!r}"
        )
    return shape




def resolve_feature_layout(feature_layout):
    """Validates `feature_layout`; returns `"channels_last"` or `"channels_first"`.

    `"auto"` is `"channels_first"` on the PyTorch backend, whose
    convolutions otherwise copy every channels-last input to channels-first
    and back (and keep the copy for the backward), and `"channels_last"` on
    TensorFlow and JAX, whose CPU and GPU kernels prefer it. An explicit
    `"channels_first"` on TensorFlow needs a GPU or XLA (`jit_compile=True`):
    TensorFlow's own CPU convolution takes channels-last inputs only.
    """
    validation.check_choice(feature_layout, "feature_layout", FEATURE_LAYOUTS)
    if feature_layout == "auto":
        return "channels_first" if keras.backend.backend() == "torch" else "channels_last"
    return feature_layout


def channel_axis(data_format):
    return 1 if data_format == "channels_first" else -1


def num_groups(channels):
    """32 groups, or the largest power-of-two divisor of `channels` below."""
    return math.gcd(_MAX_GROUPS, channels)


def norm_layer(norm, channels, name, dtype=None, data_format="channels_last"):
    """Returns the normalisation layer for `norm`, or `None` for `"none"`."""
    if norm in ("batch", "sync_batch"):
        return BatchNormalization(
            axis=channel_axis(data_format),
            momentum=_BN_MOMENTUM,
            epsilon=_BN_EPSILON,
            synchronized=norm == "sync_batch",
            name=name,
            dtype=dtype,
        )
    if norm == "group":
        return keras.layers.GroupNormalization(
            groups=num_groups(channels),
            axis=channel_axis(data_format),
            epsilon=_GN_EPSILON,
            name=name,
            dtype=dtype,
        )
    return None


def conv_norm(
    x,
    filters,
    kernel_size,
    strides,
    padding,
    norm,
    name,
    conv_name=None,
    norm_name=None,
    dtype=None,
    data_format="channels_last",
):
    """Conv (PyTorch-style symmetric zero padding) followed by the norm.

    Args:
        padding: int, zeros added on each side before a `"valid"` conv.
        conv_name, norm_name: layer names; default `{name}_conv`,
            `{name}_norm`.
    """
    conv_name = conv_name or f"{name}_conv"
    norm_name = norm_name or f"{name}_norm"
    if padding:
        x = keras.layers.ZeroPadding2D(
            padding, data_format=data_format, name=f"{conv_name}_pad",
            dtype=dtype,
        )(x)
    # keras_adios' Conv2D: Keras' layer with a fast kernel gradient for JAX on CPUs.
    x = Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="valid",
        use_bias=norm == "none",
        kernel_initializer=conv_initializer(),
        data_format=data_format,
        name=conv_name,
        dtype=dtype,
    )(x)
    layer = norm_layer(norm, filters, norm_name, dtype=dtype, data_format=data_format)
    if layer is not None:
        x = layer(x)
    return x


def basic_block(x, filters, strides, norm, name, dtype=None, data_format="channels_last"):
    """torchvision `BasicBlock` (expansion 1), feature maps in `data_format`.

    conv3x3(stride) -> norm -> ReLU -> conv3x3 -> norm, plus the identity or
    a 1x1 conv + norm projection when the stride or the channel count
    changes, then ReLU. Layer names mirror torchvision (`{name}_conv1`,
    `{name}_bn1`, `{name}_downsample_0`, ...).
    """
    in_channels = x.shape[channel_axis(data_format)]
    shortcut = x
    if strides != 1 or in_channels != filters:
        shortcut = conv_norm(
            x,
            filters,
            1,
            strides,
            0,
            norm,
            name,
            conv_name=f"{name}_downsample_0",
            norm_name=f"{name}_downsample_1",
            dtype=dtype,
            data_format=data_format,
        )
    y = conv_norm(
        x,
        filters,
        3,
        strides,
        1,
        norm,
        name,
        conv_name=f"{name}_conv1",
        norm_name=f"{name}_bn1",
        dtype=dtype,
        data_format=data_format,
    )
    y = keras.layers.ReLU(name=f"{name}_relu1", dtype=dtype)(y)
    y = conv_norm(
        y,
        filters,
        3,
        1,
        1,
        norm,
        name,
        conv_name=f"{name}_conv2",
        norm_name=f"{name}_bn2",
        dtype=dtype,
        data_format=data_format,
    )
    y = keras.layers.Add(name=f"{name}_add", dtype=dtype)([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out", dtype=dtype)(y)


def stage(x, filters, num_blocks, strides, norm, name, dtype=None, data_format="channels_last"):
    """`num_blocks` basic blocks; only the first one is strided."""
    for i in range(num_blocks):
        x = basic_block(
            x,
            filters,
            strides if i == 0 else 1,
            norm,
            name=f"{name}_{i}",
            dtype=dtype,
            data_format=data_format,
        )
    return x


def global_pool(x, dtype=None, data_format="channels_last"):
    return keras.layers.GlobalAveragePooling2D(
        data_format=data_format, name="avgpool", dtype=dtype
    )(x)
