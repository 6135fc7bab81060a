"""BEiT-style block-wise random masking: a baseline masker for ADIOS."""

import math

import keras
from keras import ops

from keras_adios.layers.patch_grid import grid_to_pixels
from keras_adios.layers.patch_masker import PatchMasker
from keras_adios.utils import validation


@keras.saving.register_keras_serializable(package="keras_adios")
class RandomBlockMasker(PatchMasker):
    """BEiT-style block-wise random masking, a non-learned baseline for ADIOS.

    Baseline masking scheme for comparison with the learned ADIOS masks
    ([Shi et al., 2022](https://arxiv.org/abs/2201.13100), `beit` scheme of
    the official `masking_schemes.py`, after
    [BEiT, Bao et al., 2021](https://arxiv.org/abs/2106.08254)). The image
    is split into a grid of `patch_size x patch_size` patches and random
    rectangular blocks of patches are occluded until at least `mask_ratio`
    of the patches are covered. Each block has a random area of at least
    `min_block_patches` patches (and at most
    `max(min_block_patches, ceil(mask_ratio * num_patches))`), a random
    aspect ratio (height / width, log-uniform in `aspect_range`) and a
    random position, and is clipped to the grid. The layer has the same
    call signature as `MaskGenerator`: images in, masks
    `(batch, height, width, 1)` out, with 1 meaning "occluded" (a
    `keras_adios.layers.Masker` with `learned = False`). It has no
    weights; the randomness comes from a `keras.random.SeedGenerator`, so
    it runs inside jitted train steps on every backend.

    Vectorised approximation of the sequential BEiT loop: for every image
    `max_blocks` candidate blocks are sampled at once, and the mask is the
    union of the first `k` of them for the smallest `k` whose union covers
    at least `mask_ratio` of the patches (found with cumulative sums), or
    of all `max_blocks` if none does, in which case the coverage is below
    `mask_ratio`. Unlike BEiT, a block that adds no new patches is not
    rejected and the block area is not shrunk as the coverage approaches
    the target, so the coverage can overshoot `mask_ratio` by up to one
    block. Rounding the block sides to whole patches can move the aspect
    ratio slightly out of `aspect_range`; the width is rounded up so that
    a block keeps at least `min_block_patches` patches unless the grid
    clips it.

    Args:
        mask_ratio: float in (0, 1). Target fraction of occluded patches.
            Defaults to `0.3`.
        patch_size: int or `None`. Side of the square patches in pixels. It
            must divide the image height and width. `None` uses
            `min(height, width) // 8`, an 8x8 grid for square images.
            Defaults to `None`.
        min_block_patches: int. Minimum block area in patches. Defaults to
            `4`.
        aspect_range: pair of floats `(low, high)`, `0 < low <= high`.
            Range of the block aspect ratio (height / width). Defaults to
            `(0.3, 1 / 0.3)`.
        max_blocks: int. Number of candidate blocks sampled per image.
            Defaults to `16`.
        seed: int or `None`. Seeds the block draws (a `SeedGenerator`);
            `None` draws a different sequence in every run. Defaults to
            `None`.
        **kwargs: Base layer keyword arguments, such as `name`.

    Input shape:
        Images `(batch_size, height, width, channels)`; height and width
        must be static and divisible by the patch size.

    Output shape:
        float32 `(batch_size, height, width, 1)`: 1 on the union of the
        blocks drawn for that image, 0 elsewhere, in whole patches.

    Example:

    ```python
    import keras
    import keras_adios

    images = keras.random.normal((8, 32, 32, 3))
    masker = keras_adios.layers.RandomBlockMasker(mask_ratio=0.3, seed=1)
    masks = masker(images)  # (8, 32, 32, 1), >= 30% of 4x4 patches are 1
    masked_images = images * (1.0 - masks)
    ```
    """

    def __init__(
        self,
        mask_ratio=0.3,
        patch_size=None,
        min_block_patches=4,
        aspect_range=(0.3, 1 / 0.3),
        max_blocks=16,
        seed=None,
        **kwargs,
    ):
        super().__init__(mask_ratio=mask_ratio, patch_size=patch_size, seed=seed, **kwargs)
        validation.check_positive_int(min_block_patches, "min_block_patches")
        if (
            not isinstance(aspect_range, (list, tuple))
            or len(aspect_range) != 2
            or not all(validation.is_number(a) for a in aspect_range)
            or not 0 < aspect_range[0] <= aspect_range[1]
        ):
            raise ValueError(
                "`aspect_range` must be a pair of numbers (low, high) with "
                f"0 < low <= high. Received: aspect_range={aspect_range!r}"
            )
        validation.check_positive_int(max_blocks, "max_blocks")

        # === Config ===
        self.min_block_patches = min_block_patches
        self.aspect_range = (float(aspect_range[0]), float(aspect_range[1]))
        self.max_blocks = max_blocks

    def target_patches(self, num_patches):
        """Number of patches a mask must cover: `ceil(ratio * patches)`."""
        return int(math.ceil(self.mask_ratio * num_patches - 1e-9))

    def sample_blocks(self, batch_size, rows, cols):
        """Samples `max_blocks` candidate blocks per image.

        Returns a float32 tensor `(batch_size, max_blocks, rows, cols)` with
        one filled rectangle of ones per block.
        """
        num_blocks = self.max_blocks
        min_area = float(self.min_block_patches)
        max_area = float(
            max(self.min_block_patches, self.target_patches(rows * cols))
        )
        log_low = math.log(self.aspect_range[0])
        log_high = math.log(self.aspect_range[1])

        u = keras.random.uniform(
            (batch_size, num_blocks, 4), seed=self.seed_generator
        )
        area = min_area + u[..., 0] * (max_area - min_area)
        aspect = ops.exp(log_low + u[..., 1] * (log_high - log_low))
        height = ops.clip(ops.round(ops.sqrt(area * aspect)), 1.0, rows)
        width = ops.round(ops.sqrt(area / aspect))
        width = ops.maximum(width, ops.ceil(min_area / height))
        width = ops.clip(width, 1.0, cols)
        top = ops.minimum(
            ops.floor(u[..., 2] * (rows - height + 1.0)), rows - height
        )
        left = ops.minimum(
            ops.floor(u[..., 3] * (cols - width + 1.0)), cols - width
        )

        row_index = ops.reshape(ops.arange(rows, dtype="float32"), (1, 1, -1, 1))
        col_index = ops.reshape(ops.arange(cols, dtype="float32"), (1, 1, 1, -1))

        def expand(t):
            return ops.expand_dims(ops.expand_dims(t, -1), -1)

        top, left = expand(top), expand(left)
        height, width = expand(height), expand(width)
        inside_rows = ops.logical_and(
            ops.greater_equal(row_index, top),
            ops.less(row_index, top + height),
        )
        inside_cols = ops.logical_and(
            ops.greater_equal(col_index, left),
            ops.less(col_index, left + width),
        )
        return ops.cast(ops.logical_and(inside_rows, inside_cols), "float32")

    def call(self, inputs):
        patch_size, rows, cols = self.grid(inputs.shape)
        target = float(self.target_patches(rows * cols))
        batch_size = ops.shape(inputs)[0]

        blocks = self.sample_blocks(batch_size, rows, cols)
        # unions[:, k] = union of blocks 0..k.
        unions = ops.cast(
            ops.greater(ops.cumsum(blocks, axis=1), 0.0), "float32"
        )
        coverage = ops.sum(unions, axis=(2, 3))  # (B, max_blocks)
        # Coverage never decreases with k, so the first k that reaches the
        # target is the number of k that do not.
        not_reached = ops.cast(ops.less(coverage, target), "int32")
        first = ops.minimum(ops.sum(not_reached, axis=1), self.max_blocks - 1)
        select = ops.one_hot(first, self.max_blocks, dtype="float32")
        grid_mask = ops.sum(unions * select[:, :, None, None], axis=1)
        return grid_to_pixels(grid_mask, patch_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "min_block_patches": self.min_block_patches,
                "aspect_range": list(self.aspect_range),
                "max_blocks": self.max_blocks,
            }
        )
        return config
