"""Patch-grid helpers shared by the patch-based maskers (random patches, blocks)."""

from keras import ops

from keras_adios.utils import validation

_DEFAULT_GRID = 8


def check_mask_ratio(mask_ratio):
    """A fraction strictly between 0 and 1; returns it as a float."""
    return validation.check_number(mask_ratio, "mask_ratio", 0.0, 1.0, strict=True)


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
