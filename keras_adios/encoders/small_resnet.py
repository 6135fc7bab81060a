"""A small, fast ResNet feature extractor for CPU experiments and tests."""

import keras

from keras_adios.encoders.resnet import ResNet
from keras_adios.utils import validation


@keras.saving.register_keras_serializable(package="keras_adios")
class SmallResNet(ResNet):
    """Small ResNet encoder mapping images to globally pooled features.

    `keras_adios.encoders.ResNet` with the `"small"` stem and the given
    stage widths.

    A cheap stand-in for `keras_adios.encoders.ResNet18` (same building
    blocks, same normalisation options) for CPU work, smoke tests and small
    images: a 3x3 stem convolution with `widths[0]` filters (stride 1,
    padding 1) + norm + ReLU, then one stage per entry of `widths`, each made
    of `blocks_per_stage` torchvision-style `BasicBlock`s. The first stage
    keeps the resolution, every later stage halves it (stride 2 in its first
    block). Global average pooling gives `widths[-1]` features.

    Args:
        input_shape: tuple of 3 ints. The `(height, width, channels)` of the
            input images (channels-last). Height and width may be `None` for
            variable-size inputs. Defaults to `(32, 32, 3)`.
        widths: tuple of ints. Filters of each stage; its length is the
            number of stages. Defaults to `(32, 64, 128)`.
        blocks_per_stage: int. Number of `BasicBlock`s in every stage.
            Defaults to `1`.
        norm: string. The normalisation after each convolution:
            `"batch"` (BatchNorm, `epsilon=1e-5, momentum=0.9`),
            `"sync_batch"` (BatchNorm with `synchronized=True`; TensorFlow
            and PyTorch), `"group"` (GroupNorm with `gcd(32, channels)`
            groups) or `"none"` (no normalisation; the convolutions then have
            biases). Defaults to `"batch"`.
        feature_layout: `"auto"`, `"channels_last"` or `"channels_first"`,
            the layout of the feature maps inside the network (inputs are
            always NHWC images; weights and outputs do not depend on it).
            `"auto"` is channels-first on PyTorch, channels-last elsewhere.
            See `keras_adios.encoders.ResNet`. Defaults to `"auto"`.
        name: string. The model name. Defaults to `"small_resnet"`.
        **kwargs: other `keras.Model` arguments, e.g. `dtype` or
            `trainable`.

    Example:

    ```python
    import numpy as np
    import keras_adios.encoders

    encoder = keras_adios.encoders.SmallResNet(
        input_shape=(32, 32, 3), widths=(32, 64)
    )
    features = encoder(np.zeros((2, 32, 32, 3), "float32"))
    features.shape  # (2, 64)
    ```
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        widths=(32, 64, 128),
        blocks_per_stage=1,
        norm="batch",
        feature_layout="auto",
        name="small_resnet",
        **kwargs,
    ):
        try:
            widths = tuple(widths)
        except TypeError:
            widths = ()
        if not widths or not all(validation.is_int(w) and w >= 1 for w in widths):
            raise ValueError(
                "`widths` must be a non-empty tuple of positive integers. "
                f"Received: widths={widths!r}"
            )
        super().__init__(
            input_shape=input_shape,
            stage_widths=widths,
            blocks_per_stage=blocks_per_stage,
            stem="small",
            norm=norm,
            feature_layout=feature_layout,
            name=name,
            **kwargs,
        )
        self.widths = widths

    def get_config(self):
        config = super(ResNet, self).get_config()
        config.update(
            {
                "input_shape": list(self.image_shape),
                "widths": list(self.widths),
                "blocks_per_stage": self.blocks_per_stage,
                "norm": self.norm,
                "feature_layout": self.feature_layout,
            }
        )
        return config
