"""Renders images, their occlusion masks and the masked images as a grid."""

import numpy as np

from keras_adios.utils.arrays import to_numpy
from keras_adios.evaluation.mask_metrics import hard_mask_assignment

_OCCLUDED_MODES = ("mean", "black")


def render_mask_grid(
    images,
    masks,
    denormalize=None,
    scale=4,
    hard=False,
    occluded="mean",
    separator=2,
    separator_color=(255, 255, 255),
):
    """Renders a uint8 grid: one row per image, `1 + 2N` tiles per row.

    Row `i` shows the image, then for every mask `n`: the mask (greyscale,
    white = 1 = occluded) and the masked image `x * (1 - m_n)`, the input
    the encoder sees (ADIOS §1.3, `auto_mask.py` of the authors' code).
    Every tile is upscaled by `scale` (nearest neighbour) so that 32-px
    images stay readable, and tiles are separated by `separator` pixels of
    `separator_color`, between columns and between rows (no outer border).
    The grid therefore has shape
    `(B * H * scale + (B - 1) * separator,
      (1 + 2N) * W * scale + 2N * separator, 3)`.

    Occluded pixels (`occluded=`):

    - `"mean"` (default): the product is taken on the *normalised* image,
      as in training, and then denormalised, so fully occluded pixels show
      the dataset-mean colour (a grey).
    - `"black"`: the denormalised image is multiplied by `1 - m_n`, so fully
      occluded pixels are black.

    Args:
        images: array `(B, H, W, C)` of normalised images (C = 1 or 3).
        masks: array `(B, H, W, N)` of masks in [0, 1] (or `(B, H, W)`).
        denormalize: how to map images back to [0, 1] for display: None (the
            images already are in [0, 1]), a tuple `(mean, std)` (per-channel
            sequences or scalars; `x * std + mean`) or a callable on NumPy
            arrays. Values are clipped to [0, 1].
        scale: int. Nearest-neighbour upscaling factor of every tile.
        hard: bool. Show hard masks: one-hot of the argmax over the N masks
            (the mask thresholded at 0.5 when N = 1), as the authors do.
        occluded: `"mean"` or `"black"` (see above).
        separator: int. Width in pixels of the lines between tiles.
        separator_color: RGB tuple of uint8 values for the lines.

    Returns:
        A uint8 NumPy array `(grid_height, grid_width, 3)`.

    Example:

    >>> import numpy as np
    >>> from keras_adios.callbacks import render_mask_grid
    >>> images = np.random.rand(2, 8, 8, 3).astype("float32")
    >>> masks = np.random.rand(2, 8, 8, 3).astype("float32")
    >>> render_mask_grid(images, masks, scale=2, separator=1).shape
    (33, 118, 3)
    """
    images = to_numpy(images).astype("float32")
    masks = to_numpy(masks).astype("float32")
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            "`images` must have shape (B, H, W, C) with C = 1 or 3. "
            f"Received: images.shape={images.shape}"
        )
    if masks.ndim == 3:
        masks = masks[..., None]
    if masks.ndim != 4 or masks.shape[:3] != images.shape[:3]:
        raise ValueError(
            "`masks` must have shape (B, H, W, N) matching the images "
            f"{images.shape[:3]}. Received: masks.shape={masks.shape}"
        )
    if occluded not in _OCCLUDED_MODES:
        raise ValueError(
            f"`occluded` must be one of {_OCCLUDED_MODES}. Received: "
            f"occluded={occluded!r}"
        )
    if (
        isinstance(scale, bool)
        or not isinstance(scale, (int, np.integer))
        or scale < 1
    ):
        raise ValueError(
            f"`scale` must be an int >= 1. Received: scale={scale}"
        )
    if separator < 0:
        raise ValueError(
            f"`separator` must be >= 0. Received: separator={separator}"
        )
    denormalize = make_denormalize(denormalize)
    if hard:
        masks = hard_masks(masks)

    num_images, height, width, _ = images.shape
    num_masks = masks.shape[-1]
    display = _to_rgb(np.clip(denormalize(images), 0.0, 1.0))
    tiles = [display]  # each entry (B, H, W, 3) in [0, 1]
    for n in range(num_masks):
        m = masks[..., n : n + 1]
        tiles.append(np.repeat(m, 3, axis=-1))
        if occluded == "mean":
            masked = np.clip(denormalize(images * (1.0 - m)), 0.0, 1.0)
            tiles.append(_to_rgb(masked))
        else:
            tiles.append(display * (1.0 - m))

    tile_h, tile_w = height * scale, width * scale
    num_cols = len(tiles)
    grid_h = num_images * tile_h + (num_images - 1) * separator
    grid_w = num_cols * tile_w + (num_cols - 1) * separator
    grid = np.empty((grid_h, grid_w, 3), dtype=np.uint8)
    grid[...] = np.asarray(separator_color, dtype=np.uint8)
    for col, tile in enumerate(tiles):
        tile = to_uint8(tile)
        tile = np.repeat(np.repeat(tile, scale, axis=1), scale, axis=2)
        x0 = col * (tile_w + separator)
        for row in range(num_images):
            y0 = row * (tile_h + separator)
            grid[y0 : y0 + tile_h, x0 : x0 + tile_w] = tile[row]
    return grid


def make_denormalize(denormalize):
    """Returns a NumPy function mapping normalised images to display values.

    Args:
        denormalize: None (identity), a `(mean, std)` tuple (`x * std +
            mean`, broadcast over the channel axis) or a callable.

    Returns:
        A callable on float32 NumPy arrays `(..., C)`.

    Example:

    >>> import numpy as np
    >>> from keras_adios.callbacks.mask_grid import make_denormalize
    >>> make_denormalize(((0.5,), (0.25,)))(np.array([[2.0]]))
    array([[1.]], dtype=float32)
    """
    if denormalize is None:
        return lambda x: np.asarray(x, dtype="float32")
    if callable(denormalize):
        return lambda x: to_numpy(denormalize(x)).astype("float32")
    if isinstance(denormalize, (tuple, list)) and len(denormalize) == 2:
        mean = np.asarray(denormalize[0], dtype="float32")
        std = np.asarray(denormalize[1], dtype="float32")
        return lambda x: (np.asarray(x, dtype="float32") * std + mean).astype(
            "float32"
        )
    raise ValueError(
        "`denormalize` must be None, a (mean, std) tuple or a callable. "
        f"Received: denormalize={denormalize!r}"
    )


def hard_masks(masks):
    """One-hot of the per-pixel argmax over N masks (N = 1: `m > 0.5`).

    Example:

    >>> import numpy as np
    >>> from keras_adios.callbacks.mask_grid import hard_masks
    >>> hard_masks(np.array([[[[0.2, 0.8]]]]))
    array([[[[0., 1.]]]], dtype=float32)
    """
    masks = to_numpy(masks)
    assignment = hard_mask_assignment(masks)
    if masks.shape[-1] == 1:
        return assignment[..., None].astype("float32")
    return (assignment[..., None] == np.arange(masks.shape[-1])).astype(
        "float32"
    )


def to_uint8(x):
    """Maps values in [0, 1] to uint8 with rounding (values are clipped)."""
    return np.floor(np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _to_rgb(x):
    if x.shape[-1] == 1:
        return np.repeat(x, 3, axis=-1)
    return x
