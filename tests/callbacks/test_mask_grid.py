import numpy as np
import pytest

from keras_adios.callbacks import render_mask_grid

MEAN = np.array([0.5, 0.4, 0.3], "float32")
STD = np.array([0.25, 0.2, 0.3], "float32")


def _inputs(num_images=2, size=4, num_masks=2, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(num_images, size, size, 3)).astype("float32")
    logits = rng.normal(size=(num_images, size, size, num_masks))
    masks = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    masks[0, 0, 0] = np.eye(num_masks)[0]  # one fully occluded pixel
    return images, masks.astype("float32")


def _tile(grid, row, col, tile, sep):
    y0, x0 = row * (tile + sep), col * (tile + sep)
    return grid[y0 : y0 + tile, x0 : x0 + tile]


def _expected(values, scale):
    """[0, 1] values -> uint8 (rounded), upscaled by pixel repetition."""
    u8 = np.round(np.clip(values, 0, 1) * 255).astype(int)
    return np.kron(u8, np.ones((scale, scale, 1), int))


@pytest.mark.parametrize(
    "num_images, num_masks, scale, sep",
    [(2, 2, 4, 2), (3, 1, 1, 0), (1, 4, 3, 1)],
)
def test_grid_shape(num_images, num_masks, scale, sep):
    images, masks = _inputs(num_images, 5, num_masks)
    grid = render_mask_grid(images, masks, scale=scale, separator=sep)
    assert grid.dtype == np.uint8
    cols = 1 + 2 * num_masks
    assert grid.shape == (
        num_images * 5 * scale + (num_images - 1) * sep,
        cols * 5 * scale + (cols - 1) * sep,
        3,
    )


def test_tiles_show_image_mask_and_masked_image_with_mean_grey():
    images, masks = _inputs()
    scale, sep, size = 3, 2, 4
    grid = render_mask_grid(
        images, masks, denormalize=(MEAN, STD), scale=scale, separator=sep
    )
    tile = size * scale
    for row in range(2):
        x = images[row]
        np.testing.assert_allclose(
            _tile(grid, row, 0, tile, sep),
            _expected(x * STD + MEAN, scale),
            atol=1,
        )
        for n in range(2):
            m = masks[row, ..., n : n + 1]
            np.testing.assert_allclose(
                _tile(grid, row, 1 + 2 * n, tile, sep),
                _expected(np.repeat(m, 3, -1), scale),
                atol=1,
            )
            # Masked tile: x * (1 - m) on the normalised image, denormalised.
            np.testing.assert_allclose(
                _tile(grid, row, 2 + 2 * n, tile, sep),
                _expected((x * (1 - m)) * STD + MEAN, scale),
                atol=1,
            )
    # The fully occluded pixel (image 0, pixel (0, 0), mask 0) shows the
    # dataset mean colour; the mask tile is white there.
    np.testing.assert_allclose(
        _tile(grid, 0, 2, tile, sep)[0, 0], np.round(MEAN * 255), atol=1
    )
    assert _tile(grid, 0, 1, tile, sep)[0, 0].tolist() == [255, 255, 255]


def test_black_occlusion_multiplies_the_denormalised_image():
    images, masks = _inputs()
    grid = render_mask_grid(
        images,
        masks,
        denormalize=(MEAN, STD),
        scale=1,
        separator=0,
        occluded="black",
    )
    display = np.clip(images[0] * STD + MEAN, 0, 1)
    m = masks[0, ..., :1]
    np.testing.assert_allclose(
        _tile(grid, 0, 2, 4, 0), _expected(display * (1 - m), 1), atol=1
    )
    assert _tile(grid, 0, 2, 4, 0)[0, 0].tolist() == [0, 0, 0]


def test_separators_have_the_separator_colour():
    images, masks = _inputs()
    grid = render_mask_grid(
        images, masks, scale=2, separator=3, separator_color=(255, 0, 0)
    )
    tile = 8
    # Vertical line after the first column, horizontal line after row 0.
    assert (grid[:, tile : tile + 3] == [255, 0, 0]).all()
    assert (grid[tile : tile + 3, :] == [255, 0, 0]).all()


def test_hard_masks_are_one_hot_argmax():
    images, masks = _inputs(num_masks=3)
    grid = render_mask_grid(images, masks, hard=True, scale=1, separator=0)
    argmax = np.argmax(masks, axis=-1)
    for row in range(2):
        for n in range(3):
            tile = _tile(grid, row, 1 + 2 * n, 4, 0)[..., 0]
            np.testing.assert_array_equal(
                tile, np.where(argmax[row] == n, 255, 0)
            )
    # A single mask is thresholded at 0.5.
    single = np.full((1, 4, 4, 1), 0.4, "float32")
    single[0, :2] = 0.6
    grid = render_mask_grid(images[:1], single, hard=True, scale=1, separator=0)
    assert grid[:2, 4:8, 0].min() == 255 and grid[2:, 4:8, 0].max() == 0


def test_callable_denormalize_and_grayscale_images():
    rng = np.random.default_rng(1)
    images = rng.random((2, 4, 4, 1)).astype("float32") * 2.0
    masks = np.zeros((2, 4, 4, 1), "float32")
    grid = render_mask_grid(
        images, masks, denormalize=lambda x: x / 2.0, scale=1, separator=0
    )
    assert grid.shape == (8, 12, 3)
    np.testing.assert_allclose(
        grid[:4, :4], _expected(np.repeat(images[0] / 2.0, 3, -1), 1), atol=1
    )


def test_invalid_arguments_raise():
    images, masks = _inputs()
    with pytest.raises(ValueError, match="Received"):
        render_mask_grid(images, masks[:, :3])
    with pytest.raises(ValueError, match="Received"):
        render_mask_grid(images[..., :2], masks)
    with pytest.raises(ValueError, match="Received"):
        render_mask_grid(images, masks, occluded="white")
    with pytest.raises(ValueError, match="Received"):
        render_mask_grid(images, masks, scale=0)
    with pytest.raises(ValueError, match="Received"):
        render_mask_grid(images, masks, denormalize=(1, 2, 3))
