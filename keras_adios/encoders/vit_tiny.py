"""ViT-Tiny, the paper's transformer backbone."""

import keras

from keras_adios.encoders.vision_transformer import VisionTransformer


@keras.saving.register_keras_serializable(package="keras_adios")
class ViTTiny(VisionTransformer):
    """ViT-Tiny encoder: `VisionTransformer` with patch 16, width 192, 12 blocks, 3 heads.

    The configuration of timm's `vit_tiny_patch16_224` that the ADIOS code
    uses as its ViT backbone (also at 96 px for STL10 and ImageNet100-S,
    where it sees 6x6 patches). 192 features (the final class token).
    5,524,416 parameters at 224 px (timm's 5,717,416 minus its 1000-class
    head) and 5,493,696 at 96 px (fewer position embeddings).

    Args:
        input_shape: tuple of 3 ints; height and width divisible by
            `patch_size`. Defaults to `(96, 96, 3)`.
        patch_size: int. Defaults to `16`; smaller patches (e.g. 8 at 32
            px) give more tokens on small images.
        name: string. Defaults to `"vit_tiny"`.
        **kwargs: other `keras.Model` arguments, e.g. `dtype`.

    Example:

    ```python
    import numpy as np
    import keras_adios

    encoder = keras_adios.encoders.ViTTiny(input_shape=(96, 96, 3))
    encoder(np.zeros((1, 96, 96, 3), "float32")).shape  # (1, 192)
    ```
    """

    def __init__(self, input_shape=(96, 96, 3), patch_size=16, name="vit_tiny", **kwargs):
        super().__init__(
            input_shape=input_shape, patch_size=patch_size, dim=192, depth=12, num_heads=3,
            mlp_ratio=4.0, name=name, **kwargs,
        )

    def get_config(self):
        config = super(VisionTransformer, self).get_config()
        config.update({"input_shape": list(self.image_shape), "patch_size": self.patch_size})
        return config
