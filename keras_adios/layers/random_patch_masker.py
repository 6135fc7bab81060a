"""MAE-style random patch masking: a baseline masker for ADIOS."""

import math

import keras
from keras import ops

from keras_adios.layers.patch_grid import grid_to_pixels
from keras_adios.layers.patch_masker import PatchMasker


@keras.saving.register_keras_serializable(package="keras_adios")
class RandomPatchMasker(PatchMasker):
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
        super().__init__(mask_ratio=mask_ratio, patch_size=patch_size, seed=seed, **kwargs)

    def num_masked_patches(self, num_patches):
        """Patches occluded per image: `round(mask_ratio * num_patches)`."""
        return int(math.floor(self.mask_ratio * num_patches + 0.5))

    def call(self, inputs):
        patch_size, rows, cols = self.grid(inputs.shape)
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
