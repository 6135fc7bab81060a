"""One configurable ResNet backbone (torchvision `BasicBlock`s) behind every encoder."""

import keras

from keras_adios.encoders import resnet_blocks
from keras_adios.utils import validation

STEMS = ("small", "cifar", "imagenet")


@keras.saving.register_keras_serializable(package="keras_adios")
class ResNet(keras.Model):
    """A ResNet encoder mapping images to globally pooled features, configured by its stages.

    A stem, then one stage per entry of `stage_widths`, each made of
    `blocks_per_stage` torchvision-style `BasicBlock`s (two 3x3 conv + norm,
    a 1x1 conv + norm projection shortcut whenever a block changes the
    shape). The first stage keeps the resolution, every later stage halves
    it (stride 2 in its first block). Global average pooling gives
    `stage_widths[-1]` features. `keras_adios.encoders.ResNet18` (the
    paper's backbone) and `keras_adios.encoders.SmallResNet` (a fast CPU
    stand-in) are this class with fixed configurations.

    Stems (`stage_widths[0]` filters, then norm and ReLU):

    * `"small"`: a 3x3 conv, stride 1, padding 1 (the resolution is kept);
    * `"cifar"`: solo-learn's CIFAR stem, a 3x3 conv with stride 1 and
      padding 2 (a 32x32 image becomes 34x34), no max-pool;
    * `"imagenet"`: torchvision's 7x7/2 conv (padding 3) and a 3x3/2
      max-pool (padding 1).

    Convolutions followed by a norm have no bias, BatchNorm uses
    `epsilon=1e-5, momentum=0.9` (PyTorch's momentum 0.1), kernels use
    torchvision's He-normal "fan_out" initialisation and layer names mirror
    torchvision's modules (`conv1`, `bn1`, `layer2_0_downsample_0`, ...).

    Args:
        input_shape: tuple of 3 ints, `(height, width, channels)`; height
            and width may be `None`. Defaults to `(32, 32, 3)`.
        stage_widths: tuple of ints, the filters of each stage. Defaults to
            `(64, 128, 256, 512)`.
        blocks_per_stage: int, `BasicBlock`s per stage. Defaults to `2`.
        stem: `"small"`, `"cifar"` or `"imagenet"`. Defaults to `"cifar"`.
        norm: `"batch"`, `"sync_batch"` (TensorFlow, PyTorch), `"group"`
            (`gcd(32, channels)` groups) or `"none"` (convolutions then have
            biases). Defaults to `"batch"`.
        feature_layout: `"auto"`, `"channels_last"` or `"channels_first"`:
            the memory layout of the feature maps inside the network. Inputs
            are always `(batch, height, width, channels)` images and the
            weights, outputs and numbers are the same in both layouts (only
            float rounding differs), so a saved encoder loads with either.
            `"channels_first"` adds one transpose at the input. `"auto"`
            (the default) picks `"channels_first"` on the PyTorch backend,
            where Keras' convolutions otherwise copy every channels-last
            input to channels-first and back and keep the copy for the
            backward (channels-first measured with about a quarter less
            activation memory and up to 1.1x faster there;
            `benchmarks/feature_layout.py`), and `"channels_last"` on
            TensorFlow and JAX.
            Intermediate layer outputs follow the resolved layout.
        name: string. Defaults to `"resnet"`.
        **kwargs: other `keras.Model` arguments, e.g. `dtype`.

    Example:

    ```python
    import numpy as np
    import keras_adios

    encoder = keras_adios.encoders.ResNet(stage_widths=(16, 32, 64, 128), stem="small")
    encoder(np.zeros((2, 32, 32, 3), "float32")).shape  # (2, 128)
    ```
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        stage_widths=(64, 128, 256, 512),
        blocks_per_stage=2,
        stem="cifar",
        norm="batch",
        feature_layout="auto",
        name="resnet",
        **kwargs,
    ):
        input_shape = resnet_blocks.check_input_shape(input_shape)
        try:
            stage_widths = tuple(stage_widths)
        except TypeError:
            stage_widths = ()
        if not stage_widths or not all(validation.is_int(w) and w >= 1 for w in stage_widths):
            raise ValueError(
                "`stage_widths` must be a non-empty tuple of positive integers. "
                f"Received: stage_widths={stage_widths!r}"
            )
        validation.check_positive_int(blocks_per_stage, "blocks_per_stage")
        validation.check_choice(stem, "stem", STEMS)
        resnet_blocks.check_norm(norm)
        data_format = resnet_blocks.resolve_feature_layout(feature_layout)
        dtype = kwargs.get("dtype")

        # === Layers ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = inputs
        if data_format == "channels_first":
            x = keras.layers.Permute((3, 1, 2), name="to_channels_first", dtype=dtype)(x)
        kernel, stride, padding = {"small": (3, 1, 1), "cifar": (3, 1, 2), "imagenet": (7, 2, 3)}[stem]
        x = resnet_blocks.conv_norm(
            x, stage_widths[0], kernel, stride, padding, norm, "stem",
            conv_name="conv1", norm_name="bn1", dtype=dtype, data_format=data_format,
        )
        x = keras.layers.ReLU(name="relu", dtype=dtype)(x)
        if stem == "imagenet":
            # PyTorch pads max-pooling with -inf; zeros are equivalent here
            # because the input is non-negative (after ReLU).
            x = keras.layers.ZeroPadding2D(1, data_format=data_format, name="maxpool_pad", dtype=dtype)(x)
            x = keras.layers.MaxPooling2D(
                3, strides=2, padding="valid", data_format=data_format, name="maxpool", dtype=dtype,
            )(x)
        for i, filters in enumerate(stage_widths):
            x = resnet_blocks.stage(
                x, filters, blocks_per_stage, 1 if i == 0 else 2, norm, name=f"layer{i + 1}", dtype=dtype,
                data_format=data_format,
            )
        outputs = resnet_blocks.global_pool(x, dtype=dtype, data_format=data_format)

        # === Functional Model ===
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        # === Config ===
        self.image_shape = input_shape
        self.stage_widths = stage_widths
        self.blocks_per_stage = blocks_per_stage
        self.stem = stem
        self.norm = norm
        self.feature_layout = feature_layout
        self.data_format = data_format
        self.feature_dim = stage_widths[-1]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_shape": list(self.image_shape),
                "stage_widths": list(self.stage_widths),
                "blocks_per_stage": self.blocks_per_stage,
                "stem": self.stem,
                "norm": self.norm,
                "feature_layout": self.feature_layout,
            }
        )
        return config
