"""MAE-style random patch masking: a baseline masker for ADIOS."""

import math

import keras
from keras import ops

_DEFAULT_GRID = 8


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def validate_mask_ratio(mask_ratio):
    if (
        isinstance(mask_ratio, bool)
        or not isinstance(mask_ratio, (int, float))
        or not 0.0 < mask_ratio < 1.0
    ):
        raise ValueError(
            "`mask_ratio` must be a number strictly between 0 and 1. "
            f"Received: mask_ratio={mask_ratio!r}"
        )
    return float(mask_ratio)


def validate_patch_size(patch_size):
    if patch_size is not None and (not _is_int(patch_size) or patch_size < 1):
        raise ValueError(
            "`patch_size` must be None or an integer >= 1. "
            f"Received: patch_size={patch_size!r}"
        )
    return patch_size


def validate_seed(seed):
    if seed is not None and not _is_int(seed):
        raise ValueError(
            f"`seed` must be None or an integer. Received: seed={seed!r}"
        )
    return seed


def patch_grid(layer_name, input_shape, patch_size):
    """Checks the image shape and returns `(patch_size, rows, cols)`.

    The default patch size is `min(height, width) // 8` (an 8x8 grid for
    square images). The patch size must divide both spatial dimensions.
    """
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(
            f"{layer_name} expects 4D images (batch, height, width, "
            f"channels). Received: input_shape={shape}"
        )
    height, width = shape[1], shape[2]
    if height is None or width is None:
        raise ValueError(
            f"{layer_name} needs a static spatial size. "
            f"Received: input_shape={shape}"
        )
    if patch_size is None:
        patch_size = min(height, width) // _DEFAULT_GRID
        if patch_size < 1:
            raise ValueError(
                f"{layer_name} with the default patch_size "
                f"(image_size // {_DEFAULT_GRID}) needs images of at least "
                f"{_DEFAULT_GRID}x{_DEFAULT_GRID} pixels. "
                f"Received: input_shape={shape}"
            )
    if height % patch_size != 0 or width % patch_size != 0:
        raise ValueError(
            f"{layer_name}: patch_size={patch_size} must divide the image "
            f"height and width. Received: input_shape={shape}"
        )
    return patch_size, height // patch_size, width // patch_size


def grid_to_pixels(grid_mask, patch_size):
    """(B, rows, cols) patch mask -> (B, rows * p, cols * p, 1) float32."""
    mask = ops.repeat(grid_mask, patch_size, axis=1)
    mask = ops.repeat(mask, patch_size, axis=2)
    return ops.expand_dims(ops.cast(mask, "float32"), axis=-1)


@keras.saving.register_keras_serializable(package="keras_adios")
class RandomPatchMasker(keras.layers.Layer):
    """MAE-style random patch masking, a non-learned baseline for ADIOS.

    Baseline masking scheme for comparison with the learned ADIOS masks
    ([Shi et al., 2022](https://arxiv.org/abs/2201.13100), `mae` scheme of
    the official `masking_schemes.py`, after
    [MAE, He et al., 2021](https://arxiv.org/abs/2111.06377)). The image is
    split into a grid of `patch_size x patch_size` patches and exactly
    `round(mask_ratio * num_patches)` patches (rounding half up) are
    occluded in every image, chosen uniformly at random and independently
    per image (argsort of uniform noise). The layer has the same call
    signature as `MaskGenerator`: images in, masks
    `(batch, height, width, 1)` out, with 1 meaning "occluded", so the
    masked view is `images * (1 - masks)`. It has no weights; the
    randomness comes from a `keras.random.SeedGenerator`, so it runs
    inside jitted train steps on every backend.

    Args:
        mask_ratio: float in (0, 1). Fraction of patches to occlude.
            Defaults to `0.75`.
        patch_size: int or `None`. Side of the square patches in pixels. It
            must divide the image height and width. `None` uses
            `min(height, width) // 8`, an 8x8 grid for square images.
            (The official code uses 16-px patches; pass `patch_size=16` to
            match it.) Defaults to `None`.
        seed: int or `None`. Seed of the layer's `SeedGenerator`.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name`.

    Input shape:
        4D tensor `(batch_size, height, width, channels)` with a static
        spatial size.

    Output shape:
        4D float32 tensor `(batch_size, height, width, 1)` with values in
        `{0, 1}`, constant inside each patch.

    Example:

    ```python
    import keras
    import keras_adios

    images = keras.random.normal((8, 32, 32, 3))
    masker = keras_adios.layers.RandomPatchMasker(mask_ratio=0.75, seed=1)
    masks = masker(images)  # (8, 32, 32, 1); 48 of 64 4x4 patches are 1
    masked_images = images * (1.0 - masks)
    ```
    """

    def __init__(self, mask_ratio=0.75, patch_size=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.mask_ratio = validate_mask_ratio(mask_ratio)
        self.patch_size = validate_patch_size(patch_size)
        self.seed = validate_seed(seed)
        self.num_masks = 1
        self.supports_masking = False
        self.seed_generator = keras.random.SeedGenerator(seed)

    def num_masked_patches(self, num_patches):
        """Patches occluded per image: `round(mask_ratio * num_patches)`."""
        return int(math.floor(self.mask_ratio * num_patches + 0.5))

    def call(self, inputs):
        patch_size, rows, cols = patch_grid(
            self.__class__.__name__, inputs.shape, self.patch_size
        )
        num_patches = rows * cols
        num_masked = self.num_masked_patches(num_patches)
        batch_size = ops.shape(inputs)[0]
        noise = keras.random.uniform(
            (batch_size, num_patches), seed=self.seed_generator
        )
        # Rank of every patch in a random permutation; the `num_masked`
        # lowest ranks are occluded.
        ranks = ops.argsort(ops.argsort(noise, axis=-1), axis=-1)
        grid_mask = ops.cast(ops.less(ranks, num_masked), "float32")
        grid_mask = ops.reshape(grid_mask, (-1, rows, cols))
        return grid_to_pixels(grid_mask, patch_size)

    def compute_output_shape(self, input_shape):
        patch_grid(self.__class__.__name__, input_shape, self.patch_size)
        return tuple(input_shape[:-1]) + (1,)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype="float32"
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mask_ratio": self.mask_ratio,
                "patch_size": self.patch_size,
                "seed": self.seed,
            }
        )
        return config
