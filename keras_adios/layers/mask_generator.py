"""The ADIOS occlusion model: a UNet with a softmax mask head."""

import math

import keras
from keras import ops

from keras_adios.layers.conv2d import Conv2D
from keras_adios.layers.masker import Masker
from keras_adios.utils import validation

_NORMS = ("group", "instance", "none")
_GROUP_NORM_GROUPS = 8
_NORM_EPSILON = 1e-5
_MIN_IMAGE_SIZE = 16
_MIN_NUM_BLOCKS = 3


def default_num_blocks(image_size):
    """UNet depth the ADIOS code uses for an image size: `int(log2(size) - 1)`.

    32 -> 4, 64 -> 5, 96 -> 5, 224 -> 6 (`simclr_adios.py:68-74` in the
    official code).
    """
    return int(math.log2(image_size) - 1)


def channel_plan(num_blocks, filters):
    """Output channels of the encoder and decoder blocks.

    Returns `(encoder_channels, decoder_channels)`, two lists of length
    `num_blocks`. With `c = filters` this reproduces the table of the official
    `unet.py` for 4, 5 and 6 blocks and extends it to any depth >= 3.
    """
    c = filters
    encoder = [c] * (num_blocks - 3) + [2 * c] * 3
    decoder = [2 * c, 2 * c] + [c] * (num_blocks - 2)
    return encoder, decoder


def subsample(x):
    """Nearest-neighbour x0.5 downsampling of NHWC maps: `x[:, ::2, ::2, :]`.

    This is what `F.interpolate(scale_factor=0.5, mode="nearest")` does in
    the official UNet; it is subsampling, not pooling.
    """
    return x[:, ::2, ::2, :]


def group_norm(x, gamma, beta, groups, epsilon=_NORM_EPSILON):
    """Group normalization of NHWC maps with per-channel `gamma` and `beta`.

    The same numbers as `keras.layers.GroupNormalization(groups, axis=-1)`
    (two-pass mean and variance over `(H, W, channels of the group)`), but
    written with reductions over the spatial axes of the NHWC tensor and
    per-(image, channel) scale and offset, instead of a 5-D reshape and a
    reduction over non-contiguous axes. On TensorFlow's CPU kernels this
    takes the normalization's share of the mask generator's forward +
    backward from about 0.25x to about 0.14x that of the network without
    normalization (`benchmarks/results/profile_components_tensorflow.md`).
    """
    dtype = x.dtype
    x = ops.cast(x, "float32")
    channels = x.shape[-1]
    per_group = channels // groups

    def per_channel_group_mean(per_channel):
        # (B, C) -> mean over each group's channels, repeated back to (B, C).
        grouped = ops.reshape(per_channel, (-1, groups, per_group))
        mean = ops.mean(grouped, axis=-1, keepdims=True)
        return ops.reshape(ops.broadcast_to(mean, ops.shape(grouped)), (-1, channels))

    mean = per_channel_group_mean(ops.mean(x, axis=(1, 2)))
    centred = x - mean[:, None, None, :]
    variance = per_channel_group_mean(ops.mean(ops.square(centred), axis=(1, 2)))
    scale = ops.rsqrt(variance + epsilon) * ops.cast(gamma, "float32")
    outputs = centred * scale[:, None, None, :] + ops.cast(beta, "float32")
    return ops.cast(outputs, dtype)


@keras.saving.register_keras_serializable(package="keras_adios")
class MaskGenerator(Masker):
    """ADIOS occlusion model: a UNet followed by a softmax mask head.

    This is the masking network of ADIOS ([Shi et al., 2022](
    https://arxiv.org/abs/2201.13100)), following the official `UNet` of
    `YugeTen/adios` (adapted from GENESIS). A down path of 3x3
    conv-norm-ReLU blocks, each but the last followed by nearest
    subsampling (`x[:, ::2, ::2]`), feeds a fully connected bottleneck
    (`2c*f*f -> bottleneck_units -> bottleneck_units -> 2c*f*f`, ReLU after
    every layer). An up path of conv-norm-ReLU blocks on
    `concat([x, skip])`, each but the last followed by nearest x2
    upsampling, feeds a 1x1 convolution with `num_masks` output channels.
    A softmax over the mask axis (computed in float32) makes the masks
    partition every pixel: `sum_n masks[..., n] == 1`. A value of 1 means
    "occluded"; ADIOS forms the n-th masked view as
    `images * (1 - masks[..., n:n+1])`.

    With `c = filters` and `nb = num_blocks`, the encoder blocks output
    `[c] * (nb - 3) + [2c] * 3` channels and the decoder blocks
    `[2c, 2c] + [c] * (nb - 2)`, which is the official table for 4, 5 and 6
    blocks. The bottleneck feature map has side `f = size // 2**(nb - 1)`.
    The layer is built for one fixed square image size, because the
    bottleneck is fully connected.

    A `keras_adios.layers.Masker` with `learned = True`.

    Args:
        num_masks: int. Number of masks N (output channels), at least 2.
        filters: int. Base width `c` of the UNet (`mask_fbase` in the
            official code). Must be a multiple of 8 with `norm="group"`.
            Defaults to `32`.
        norm: str. Normalization inside the conv blocks. `"group"`:
            `GroupNormalization(groups=8)` (`gn`); `"instance"`: affine
            instance normalization, i.e. `GroupNormalization` with one
            group per channel (`in`); `"none"`: no normalization (`no`).
            Normalized blocks use convolutions without bias, and both
            normalizations use `epsilon=1e-5` as in PyTorch. Defaults to
            `"group"`.
        num_blocks: int or `None`. Number of encoder (and decoder) blocks,
            at least 3. `None` uses `int(log2(size) - 1)` like the
            SimCLR/BYOL code: 4 blocks for 32 px, 5 for 64 and 96 px and 6
            for 224 px. The image size must be divisible by
            `2**(num_blocks - 1)`. Defaults to `None`.
        bottleneck_units: int. Width of the two hidden layers of the
            bottleneck MLP. Defaults to `128`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        4D tensor `(batch_size, size, size, channels)` (channels last) with
        a static square spatial size of at least 16 pixels. Images should be
        normalised as for the encoder.

    Output shape:
        4D float32 tensor `(batch_size, size, size, num_masks)` with values
        in `[0, 1]` that sum to 1 over the last axis.

    Example:

    ```python
    import keras
    import keras_adios

    images = keras.random.normal((2, 32, 32, 3))
    generator = keras_adios.layers.MaskGenerator(num_masks=4, filters=8)
    masks = generator(images)  # (2, 32, 32, 4), sums to 1 per pixel
    first_masked_view = images * (1.0 - masks[..., 0:1])
    ```
    """

    def __init__(
        self,
        num_masks,
        filters=32,
        norm="group",
        num_blocks=None,
        bottleneck_units=128,
        **kwargs,
    ):
        super().__init__(num_masks=num_masks, **kwargs)
        validation.check_positive_int(filters, "filters")
        validation.check_choice(norm, "norm", _NORMS)
        if norm == "group" and filters % _GROUP_NORM_GROUPS != 0:
            raise ValueError(
                f'With `norm="group"`, `filters` must be divisible by '
                f"{_GROUP_NORM_GROUPS}, because every block uses "
                f"GroupNormalization(groups={_GROUP_NORM_GROUPS}) on "
                "`filters` or `2 * filters` channels. Use a multiple of "
                f'{_GROUP_NORM_GROUPS} or norm="instance"/"none". '
                f"Received: filters={filters}"
            )
        validation.check_int(num_blocks, "num_blocks", minimum=_MIN_NUM_BLOCKS, allow_none=True)
        validation.check_positive_int(bottleneck_units, "bottleneck_units")

        # === Config ===
        self.filters = filters
        self.norm = norm
        self.num_blocks = num_blocks
        self.bottleneck_units = bottleneck_units

        # Set in `build`.
        self.image_size = None
        self.input_channels = None
        self.resolved_num_blocks = None
        self.bottleneck_size = None

    # --------------------------------------------------------------------- #
    # Shape checks
    # --------------------------------------------------------------------- #

    def _check_shape(self, shape, where):
        _, height, width = self.check_images(shape)
        if height != width:
            raise ValueError(
                f"{self.__class__.__name__} expects square images "
                f"(height == width). Received: input_shape={tuple(shape)} at {where}"
            )
        if height < _MIN_IMAGE_SIZE:
            raise ValueError(
                f"{self.__class__.__name__} expects images of at least "
                f"{_MIN_IMAGE_SIZE}x{_MIN_IMAGE_SIZE} pixels. "
                f"Received: input_shape={tuple(shape)} at {where}"
            )
        return height, shape[-1]

    # --------------------------------------------------------------------- #
    # Build
    # --------------------------------------------------------------------- #

    def _make_block(self, prefix, index, in_channels, out_channels, size):
        normalized = self.norm != "none"
        conv = Conv2D(
            out_channels,
            3,
            strides=1,
            padding="same",
            use_bias=not normalized,
            data_format="channels_last",
            dtype=self.dtype_policy,
            name=f"{prefix}_conv_{index}",
        )
        conv.build((None, size, size, in_channels))
        norm = None
        if normalized:
            groups = (
                _GROUP_NORM_GROUPS if self.norm == "group" else out_channels
            )
            norm = keras.layers.GroupNormalization(
                groups=groups,
                axis=-1,
                epsilon=_NORM_EPSILON,
                dtype=self.dtype_policy,
                name=f"{prefix}_norm_{index}",
            )
            norm.build((None, size, size, out_channels))
        return conv, norm

    def build(self, input_shape):
        size, channels = self._check_shape(input_shape, "build")
        num_blocks = self.num_blocks
        if num_blocks is None:
            num_blocks = default_num_blocks(size)
        factor = 2 ** (num_blocks - 1)
        if size % factor != 0 or size // factor < 1:
            raise ValueError(
                f"With num_blocks={num_blocks}, the image size must be "
                f"divisible by 2**(num_blocks - 1) = {factor} (the UNet "
                f"subsamples {num_blocks - 1} times by 2). Choose another "
                "size or `num_blocks`. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        c = self.filters
        encoder_channels, decoder_channels = channel_plan(num_blocks, c)

        # === Layers ===
        self.encoder_convs = []
        self.encoder_norms = []
        in_channels, block_size = channels, size
        for i, out_channels in enumerate(encoder_channels):
            conv, norm = self._make_block(
                "encoder", i, in_channels, out_channels, block_size
            )
            self.encoder_convs.append(conv)
            if norm is not None:
                self.encoder_norms.append(norm)
            in_channels = out_channels
            if i < num_blocks - 1:
                block_size //= 2

        f = size // factor
        flat = 2 * c * f * f
        units = self.bottleneck_units
        self.bottleneck_dense = []
        for i, (in_units, out_units) in enumerate(
            [(flat, units), (units, units), (units, flat)]
        ):
            dense = keras.layers.Dense(
                out_units,
                activation="relu",
                dtype=self.dtype_policy,
                name=f"bottleneck_dense_{i}",
            )
            dense.build((None, in_units))
            self.bottleneck_dense.append(dense)

        self.decoder_convs = []
        self.decoder_norms = []
        in_channels, block_size = 2 * c, f
        skip_channels = encoder_channels[::-1]
        for i, out_channels in enumerate(decoder_channels):
            conv, norm = self._make_block(
                "decoder",
                i,
                in_channels + skip_channels[i],
                out_channels,
                block_size,
            )
            self.decoder_convs.append(conv)
            if norm is not None:
                self.decoder_norms.append(norm)
            in_channels = out_channels
            if i < num_blocks - 1:
                block_size *= 2
        self.upsample = keras.layers.UpSampling2D(
            size=2,
            interpolation="nearest",
            data_format="channels_last",
            dtype=self.dtype_policy,
            name="upsample",
        )
        # Stateless, but it must count as built: Keras' JAX trainer otherwise
        # tries to build the whole model symbolically before `fit`.
        self.upsample.build((None, f, f, decoder_channels[0]))

        self.head = Conv2D(
            self.num_masks,
            1,
            use_bias=True,
            data_format="channels_last",
            dtype=self.dtype_policy,
            name="head",
        )
        self.head.build((None, size, size, decoder_channels[-1]))

        self.image_size = size
        self.input_channels = channels
        self.resolved_num_blocks = num_blocks
        self.bottleneck_size = f
        self.encoder_channels = encoder_channels
        self.decoder_channels = decoder_channels
        self.built = True

    # --------------------------------------------------------------------- #
    # Forward
    # --------------------------------------------------------------------- #

    def _block(self, convs, norms, i, x):
        x = convs[i](x)
        if norms:
            # The GroupNormalization layers hold gamma and beta (and keep the
            # weight layout of saved files); `group_norm` computes the same
            # normalization faster.
            norm = norms[i]
            x = group_norm(x, norm.gamma, norm.beta, norm.groups, norm.epsilon)
        return ops.relu(x)

    def call(self, inputs):
        height, channels = self._check_shape(inputs.shape, "call")
        if channels != self.input_channels:
            raise ValueError(
                f"{self.__class__.__name__} was built for images with "
                f"{self.input_channels} channels but was called on images "
                f"with {channels} channels. "
                f"Received: input_shape={tuple(inputs.shape)}"
            )
        if height != self.image_size:
            raise ValueError(
                f"{self.__class__.__name__} was built for "
                f"{self.image_size}x{self.image_size} images (its "
                "bottleneck is fully connected) but was called on "
                f"{height}x{height} images. "
                f"Received: input_shape={tuple(inputs.shape)}"
            )
        x = ops.cast(inputs, self.compute_dtype)

        # Down path: conv blocks, nearest subsampling between them.
        skips = []
        num_blocks = self.resolved_num_blocks
        for i in range(num_blocks):
            act = self._block(self.encoder_convs, self.encoder_norms, i, x)
            skips.append(act)
            x = subsample(act) if i < num_blocks - 1 else act

        # Fully connected bottleneck.
        f = self.bottleneck_size
        width = 2 * self.filters
        x = ops.reshape(x, (-1, f * f * width))
        for dense in self.bottleneck_dense:
            x = dense(x)
        x = ops.reshape(x, (-1, f, f, width))

        # Up path: conv blocks on [x, skip], nearest x2 upsampling between.
        for i in range(num_blocks):
            x = ops.concatenate([x, skips[-1 - i]], axis=-1)
            x = self._block(self.decoder_convs, self.decoder_norms, i, x)
            if i < num_blocks - 1:
                x = self.upsample(x)

        logits = ops.cast(self.head(x), "float32")
        return ops.softmax(logits, axis=-1)

    # --------------------------------------------------------------------- #
    # Config
    # --------------------------------------------------------------------- #

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_masks": self.num_masks,
                "filters": self.filters,
                "norm": self.norm,
                "num_blocks": self.num_blocks,
                "bottleneck_units": self.bottleneck_units,
            }
        )
        return config
