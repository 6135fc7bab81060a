"""ResNet-18 feature extractor (torchvision topology, fc removed)."""

import keras

from keras_adios.encoders.resnet import ResNet
from keras_adios.utils import validation

STEM_OPTIONS = ("cifar", "imagenet")


@keras.saving.register_keras_serializable(package="keras_adios")
class ResNet18(ResNet):
    """ResNet-18 encoder mapping images to globally pooled features.

    `keras_adios.encoders.ResNet` with `stage_widths = width * (1, 2, 4, 8)`
    and two blocks per stage.

    This is torchvision's `resnet18` with `fc = Identity`, the backbone used
    by ADIOS ([Shi et al., 2022](https://arxiv.org/abs/2201.13100)) through
    solo-learn: four stages of two `BasicBlock`s with `width * [1, 2, 4, 8]`
    filters and strides `[1, 2, 2, 2]`, a 1x1 conv + norm projection shortcut
    whenever a block changes the shape, and global average pooling. With the
    default `width=64` the output has 512 features.

    Two stems are available:

    * `"imagenet"`: torchvision's 7x7/2 conv (padding 3) + norm + ReLU +
      3x3/2 max-pool (padding 1). ADIOS uses it for STL10 and
      ImageNet100(-S), even at 96 px.
    * `"cifar"`: solo-learn's CIFAR stem, a 3x3 conv with stride 1 and
      **padding 2** followed by norm + ReLU and no max-pool, so a 32x32
      image becomes a 34x34 feature map. This quirk is reproduced on
      purpose (it adds one row/column of context on each side).

    All paddings are symmetric as in PyTorch, convolutions followed by a norm
    have no bias, BatchNorm uses `epsilon=1e-5, momentum=0.9` (PyTorch's
    momentum 0.1) and conv kernels use torchvision's He-normal "fan_out"
    initialisation. Layer names mirror torchvision's module names
    (`conv1`, `bn1`, `layer2_0_downsample_0`, ...).

    Args:
        input_shape: tuple of 3 ints. The `(height, width, channels)` of the
            input images (channels-last). Height and width may be `None` for
            variable-size inputs. Defaults to `(32, 32, 3)`.
        stem: string. `"cifar"` or `"imagenet"`, see above. Defaults to
            `"cifar"`.
        norm: string. The normalisation after each convolution:
            `"batch"` (BatchNorm), `"sync_batch"` (BatchNorm with
            `synchronized=True`; TensorFlow and PyTorch), `"group"`
            (GroupNorm with 32 groups, or `gcd(32, channels)` groups when
            the channel count is not a multiple of 32) or `"none"` (no
            normalisation; the convolutions then have biases). Defaults to
            `"batch"`.
        width: int. Number of filters of the stem and of the first stage;
            later stages use `2x`, `4x` and `8x`. The output has `8 * width`
            features. Defaults to `64`.
        feature_layout: `"auto"`, `"channels_last"` or `"channels_first"`,
            the layout of the feature maps inside the network (inputs are
            always NHWC images; weights and outputs do not depend on it).
            `"auto"` is channels-first on PyTorch, channels-last elsewhere.
            See `keras_adios.encoders.ResNet`. Defaults to `"auto"`.
        name: string. The model name. Defaults to `"resnet18"`.
        **kwargs: other `keras.Model` arguments, e.g. `dtype` or
            `trainable`.

    Example:

    ```python
    import numpy as np
    import keras_adios.encoders

    encoder = keras_adios.encoders.ResNet18(input_shape=(32, 32, 3))
    features = encoder(np.zeros((2, 32, 32, 3), "float32"))
    features.shape  # (2, 512)

    # ImageNet-style stem at 96 px, as ADIOS uses for STL10.
    encoder = keras_adios.encoders.ResNet18(
        input_shape=(96, 96, 3), stem="imagenet"
    )
    ```
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        stem="cifar",
        norm="batch",
        feature_layout="auto",
        width=64,
        name="resnet18",
        **kwargs,
    ):
        if stem not in STEM_OPTIONS:
            raise ValueError(f"`stem` must be one of {STEM_OPTIONS}. Received: stem={stem!r}")
        validation.check_positive_int(width, "width")
        super().__init__(
            input_shape=input_shape,
            stage_widths=(width, 2 * width, 4 * width, 8 * width),
            blocks_per_stage=2,
            stem=stem,
            norm=norm,
            feature_layout=feature_layout,
            name=name,
            **kwargs,
        )
        self.width = width

    def get_config(self):
        config = super(ResNet, self).get_config()
        config.update(
            {
                "input_shape": list(self.image_shape),
                "stem": self.stem,
                "norm": self.norm,
                "feature_layout": self.feature_layout,
                "width": self.width,
            }
        )
        return config
