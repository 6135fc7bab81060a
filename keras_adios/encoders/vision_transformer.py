"""A Vision Transformer encoder (timm's `VisionTransformer`, class-token features)."""

import keras

from keras_adios.encoders import resnet_blocks
from keras_adios.encoders import vit_blocks
from keras_adios.utils import validation


@keras.saving.register_keras_serializable(package="keras_adios")
class VisionTransformer(keras.Model):
    """A ViT encoder mapping images to the final class token's features.

    timm's `VisionTransformer` with `num_classes=0` (the features the ADIOS
    code's ViT backbones give): a strided-conv patch embedding, a learned
    class token and learned position embeddings, `depth` pre-norm
    transformer blocks (multi-head self-attention with biased q/k/v, then an
    MLP with `mlp_ratio * dim` hidden units and exact GELU; LayerNorm with
    epsilon 1e-6), a final LayerNorm, and the class token as the `dim`
    features. Linear weights start as a truncated normal with std 0.02 and
    zero biases, as timm. No dropout or drop-path (timm's defaults).
    `keras_adios.encoders.ViTTiny` is the paper's configuration.

    ADIOS masks pixels, so a ViT needs nothing special: the masked view is
    an image like any other.

    Args:
        input_shape: tuple of 3 ints `(height, width, channels)`; height and
            width must be fixed and divisible by `patch_size` (the position
            embeddings are learned per patch). Defaults to `(96, 96, 3)`.
        patch_size: int. Defaults to `16`.
        dim: int, the token (and feature) width. Defaults to `192`.
        depth: int, the number of transformer blocks. Defaults to `12`.
        num_heads: int, attention heads; must divide `dim`. Defaults to `3`.
        mlp_ratio: float, MLP hidden units per token width. Defaults to `4.0`.
        name: string. Defaults to `"vision_transformer"`.
        **kwargs: other `keras.Model` arguments, e.g. `dtype`.

    Example:

    ```python
    import numpy as np
    import keras_adios

    encoder = keras_adios.encoders.VisionTransformer(
        input_shape=(32, 32, 3), patch_size=8, dim=64, depth=2, num_heads=2
    )
    encoder(np.zeros((2, 32, 32, 3), "float32")).shape  # (2, 64)
    ```
    """

    def __init__(
        self,
        input_shape=(96, 96, 3),
        patch_size=16,
        dim=192,
        depth=12,
        num_heads=3,
        mlp_ratio=4.0,
        name="vision_transformer",
        **kwargs,
    ):
        input_shape = resnet_blocks.check_input_shape(input_shape)
        vit_blocks.check_patch_grid(input_shape, patch_size)
        for value, arg in ((dim, "dim"), (depth, "depth"), (num_heads, "num_heads")):
            validation.check_positive_int(value, arg)
        if not (isinstance(mlp_ratio, (int, float)) and mlp_ratio > 0 and int(dim * mlp_ratio) >= 1):
            raise ValueError(f"`mlp_ratio` must be a positive number. Received: mlp_ratio={mlp_ratio!r}")
        dtype = kwargs.get("dtype")

        # === Layers ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = vit_blocks.patch_embed(inputs, dim, patch_size, dtype=dtype)
        x = vit_blocks.TokenEmbedding(name="token_embedding", dtype=dtype)(x)
        for i in range(depth):
            x = vit_blocks.transformer_block(x, dim, num_heads, mlp_ratio, name=f"blocks_{i}", dtype=dtype)
        x = keras.layers.LayerNormalization(epsilon=vit_blocks.LAYER_NORM_EPSILON, name="norm", dtype=dtype)(x)
        outputs = x[:, 0]  # the class token

        # === Functional Model ===
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        # === Config ===
        self.image_shape = input_shape
        self.patch_size = patch_size
        self.dim = dim
        self.depth = depth
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.feature_dim = dim

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_shape": list(self.image_shape),
                "patch_size": self.patch_size,
                "dim": self.dim,
                "depth": self.depth,
                "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio,
            }
        )
        return config
