"""A small, fast ResNet feature extractor for CPU experiments and tests."""

import keras

from keras_adios.encoders import resnet_blocks
from keras_adios.utils import validation


@keras.saving.register_keras_serializable(package="keras_adios")
class SmallResNet(keras.Model):
    """Small ResNet encoder mapping images to globally pooled features.

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
            `"sync_batch"` (BatchNorm with `synchronized=True`, TensorFlow
            backend only), `"group"` (GroupNorm with `gcd(32, channels)`
            groups) or `"none"` (no normalisation; the convolutions then have
            biases). Defaults to `"batch"`.
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
        name="small_resnet",
        **kwargs,
    ):
        input_shape = resnet_blocks.check_input_shape(input_shape)
        try:
            widths = tuple(widths)
        except TypeError:
            widths = ()
        if not widths or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1
            for w in widths
        ):
            raise ValueError(
                "`widths` must be a non-empty tuple of positive integers. "
                f"Received: widths={widths!r}"
            )
        validation.check_positive_int(blocks_per_stage, "blocks_per_stage")
        resnet_blocks.check_norm(norm)
        dtype = kwargs.get("dtype")

        # === Layers ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = resnet_blocks.conv_norm(
            inputs, widths[0], 3, 1, 1, norm, "stem",
            conv_name="conv1", norm_name="bn1", dtype=dtype,
        )
        x = keras.layers.ReLU(name="relu", dtype=dtype)(x)
        for i, filters in enumerate(widths):
            x = resnet_blocks.stage(
                x, filters, blocks_per_stage, 1 if i == 0 else 2, norm,
                name=f"layer{i + 1}", dtype=dtype,
            )
        outputs = resnet_blocks.global_pool(x, dtype=dtype)

        # === Functional Model ===
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        # === Config ===
        self.image_shape = input_shape
        self.widths = widths
        self.blocks_per_stage = blocks_per_stage
        self.norm = norm
        self.feature_dim = widths[-1]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_shape": list(self.image_shape),
                "widths": list(self.widths),
                "blocks_per_stage": self.blocks_per_stage,
                "norm": self.norm,
            }
        )
        return config
