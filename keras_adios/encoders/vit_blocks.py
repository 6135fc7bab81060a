"""Building blocks of `keras_adios.encoders.VisionTransformer` (timm's `VisionTransformer`).

`TokenEmbedding` prepends the class token and adds the learned position
embeddings; `patch_embed` and `transformer_block` build the functional graph.
"""

import keras

from keras_adios.utils import validation

#: timm's LayerNorm epsilon.
LAYER_NORM_EPSILON = 1e-6


def _dense_init():
    # timm: trunc_normal_(std=.02) for every Linear, zero biases.
    return keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="keras_adios")
class TokenEmbedding(keras.layers.Layer):
    """Prepends a learned class token and adds learned position embeddings.

    Input `(B, N, D)` patch tokens, output `(B, N + 1, D)`: `concat([cls,
    tokens]) + positions`, as timm's `VisionTransformer` (`class_token=True`,
    `pos_embed="learn"`). The class token starts near zero (normal, std 1e-6)
    and the positions as a truncated normal with std 0.02, as timm does.

    Args:
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:

    ```python
    import numpy as np
    from keras_adios.encoders.vit_blocks import TokenEmbedding

    TokenEmbedding()(np.zeros((2, 36, 192), "float32")).shape  # (2, 37, 192)
    ```
    """

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "TokenEmbedding needs inputs of shape (batch, num_tokens, dim) with known "
                f"num_tokens and dim. Received: {input_shape}"
            )
        _, num_tokens, dim = input_shape
        self.class_token = self.add_weight(
            shape=(1, 1, dim), initializer=keras.initializers.RandomNormal(stddev=1e-6), name="class_token"
        )
        self.positions = self.add_weight(
            shape=(1, num_tokens + 1, dim), initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="positions",
        )

    def call(self, tokens):
        batch = keras.ops.shape(tokens)[0]
        cls = keras.ops.broadcast_to(
            keras.ops.cast(self.class_token, tokens.dtype), (batch, 1, keras.ops.shape(tokens)[2])
        )
        return keras.ops.concatenate([cls, tokens], axis=1) + keras.ops.cast(self.positions, tokens.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] + 1, input_shape[2])


def check_patch_grid(input_shape, patch_size):
    """Validates `(H, W, C)` against the patch size; returns the number of patches."""
    validation.check_positive_int(patch_size, "patch_size")
    height, width = input_shape[:2]
    if height is None or width is None or height % patch_size or width % patch_size:
        raise ValueError(
            "A VisionTransformer needs a fixed image size divisible by `patch_size` (its position "
            f"embeddings are learned per patch). Received: input_shape={tuple(input_shape)}, "
            f"patch_size={patch_size}"
        )
    return (height // patch_size) * (width // patch_size)


def patch_embed(images, dim, patch_size, dtype=None):
    """Non-overlapping `patch_size` patches -> `(B, num_patches, dim)` tokens (a strided conv)."""
    x = keras.layers.Conv2D(
        dim, patch_size, strides=patch_size, padding="valid", data_format="channels_last",
        name="patch_embed_proj", dtype=dtype,
    )(images)
    return keras.layers.Reshape((-1, dim), name="patch_embed_flatten", dtype=dtype)(x)


def transformer_block(x, dim, num_heads, mlp_ratio, name, dtype=None):
    """timm's pre-norm `Block`: x + Attn(LN(x)), then x + MLP(LN(x)) (exact GELU)."""
    if dim % num_heads:
        raise ValueError(
            f"`dim` must be divisible by `num_heads`. Received: dim={dim}, num_heads={num_heads}"
        )
    h = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{name}_norm1", dtype=dtype)(x)
    h = keras.layers.MultiHeadAttention(
        num_heads, dim // num_heads, kernel_initializer=_dense_init(), name=f"{name}_attn", dtype=dtype,
    )(h, h)
    x = keras.layers.Add(name=f"{name}_add1", dtype=dtype)([x, h])
    h = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{name}_norm2", dtype=dtype)(x)
    h = keras.layers.Dense(
        int(dim * mlp_ratio), kernel_initializer=_dense_init(), name=f"{name}_mlp_fc1", dtype=dtype,
    )(h)
    # keras.activations.gelu defaults to the exact (erf) form, as torch's nn.GELU.
    h = keras.layers.Activation("gelu", name=f"{name}_mlp_gelu", dtype=dtype)(h)
    h = keras.layers.Dense(dim, kernel_initializer=_dense_init(), name=f"{name}_mlp_fc2", dtype=dtype)(h)
    return keras.layers.Add(name=f"{name}_add2", dtype=dtype)([x, h])
