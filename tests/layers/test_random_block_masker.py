import math

import keras
import numpy as np
import pytest

from keras_adios.layers import RandomBlockMasker
from harness import image_batch
from harness import patch_grid_of
from harness import run_serialization_test


# One canonical shape (8 images of 32x32, default 4-px patches: an 8x8
# grid, 16 candidate blocks) is reused by most tests, because on JAX every
# new shape costs XLA compilations. Statistics use repeated calls instead of
# bigger batches.
BATCH = 8


def _images(batch=BATCH, height=32, width=32, channels=3):
    return image_batch(batch, height, width, channels)


_np = keras.ops.convert_to_numpy
_patch_grid = patch_grid_of


def _is_rectangle(grid):
    """True if the ones of a 2D 0/1 grid fill exactly their bounding box."""
    rows = np.flatnonzero(grid.any(axis=1))
    cols = np.flatnonzero(grid.any(axis=0))
    if rows.size == 0:
        return False
    box = np.zeros_like(grid)
    box[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = 1
    return np.array_equal(grid, box)


def test_output_shape_dtype_and_binary_values():
    layer = RandomBlockMasker(seed=1)
    masks = layer(_images())
    assert tuple(masks.shape) == (8, 32, 32, 1)
    assert keras.backend.standardize_dtype(masks.dtype) == "float32"
    assert set(np.unique(_np(masks)).tolist()) == {0.0, 1.0}
    _patch_grid(_np(masks), 4)
    assert layer.num_masks == 1
    assert layer.trainable_weights == []
    assert layer.compute_output_shape((8, 32, 32, 3)) == (8, 32, 32, 1)


@pytest.mark.parametrize("ratio", [0.3, 0.5])
def test_coverage_reaches_ratio(ratio):
    layer = RandomBlockMasker(mask_ratio=ratio, seed=7)
    images = _images()
    grid = np.concatenate([_patch_grid(_np(layer(images)), 4) for _ in range(8)])
    assert grid.shape == (64, 8, 8)
    coverage = grid.mean(axis=(1, 2))
    assert np.mean(coverage >= ratio) >= 0.9
    # Not everything: at most the target plus one block of <= target area.
    target = math.ceil(ratio * 64)
    assert grid.sum(axis=(1, 2)).max() <= 2 * target
    assert coverage.mean() < 1.0


def test_sampled_blocks_are_rectangles_with_min_area():
    layer = RandomBlockMasker(mask_ratio=0.3, min_block_patches=4, max_blocks=16, seed=0)
    blocks = _np(layer.sample_blocks(BATCH, 8, 8))
    assert blocks.shape == (BATCH, 16, 8, 8)
    target = math.ceil(0.3 * 64)
    for block in blocks.reshape(-1, 8, 8):
        assert _is_rectangle(block)
        assert 4 <= block.sum() <= 2 * target
        rows = block.any(axis=1).sum()
        cols = block.any(axis=0).sum()
        # Aspect ratio near [0.3, 1/0.3] (sides are rounded to whole patches).
        assert 0.3 / 2 <= rows / cols <= 2 / 0.3


# (0.99, 2): covering all 64 patches with 2 blocks is rare, so some images
# never reach the ratio and get the union of all candidate blocks.
@pytest.mark.parametrize("ratio, max_blocks", [(0.3, 16), (0.99, 2)])
def test_mask_is_union_of_the_first_blocks_reaching_the_ratio(ratio, max_blocks):
    rows = 8
    sampler = RandomBlockMasker(mask_ratio=ratio, max_blocks=max_blocks, seed=11)
    masker = RandomBlockMasker(mask_ratio=ratio, max_blocks=max_blocks, seed=11)
    # Both layers draw the same random numbers from the same seed.
    blocks = _np(sampler.sample_blocks(BATCH, rows, rows)).astype(bool)
    grid = _patch_grid(_np(masker(_images())), 4).astype(bool)
    target = ratio * rows * rows
    used, reached = [], []
    for b in range(BATCH):
        union = np.zeros((rows, rows), bool)
        for k in range(max_blocks):
            union |= blocks[b, k]
            if union.sum() >= target - 1e-6:
                break
        used.append(k + 1)
        reached.append(union.sum() >= target - 1e-6)
        np.testing.assert_array_equal(grid[b], union)
    if max_blocks == 16:
        # Stops early: not all candidate blocks are used.
        assert all(reached) and max(used) < max_blocks
    else:
        assert not all(reached)


def test_masks_differ_across_images_and_calls():
    layer = RandomBlockMasker(seed=5)
    first = _patch_grid(_np(layer(_images())), 4).reshape(BATCH, -1)
    assert len({row.tobytes() for row in first}) == BATCH
    second = _patch_grid(_np(layer(_images())), 4).reshape(BATCH, -1)
    assert not np.array_equal(first, second)


def test_same_seed_gives_same_masks():
    images = _images()
    a = _np(RandomBlockMasker(seed=42)(images))
    b = _np(RandomBlockMasker(seed=42)(images))
    c = _np(RandomBlockMasker(seed=43)(images))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_explicit_patch_size():
    layer = RandomBlockMasker(mask_ratio=0.4, patch_size=2, seed=0)
    masks = _np(layer(_images(height=16, width=32)))
    assert masks.shape == (BATCH, 16, 32, 1)
    grid = _patch_grid(masks, 2)
    assert grid.shape == (BATCH, 8, 16)
    assert np.mean(grid.mean(axis=(1, 2)) >= 0.4) >= 0.75


_INVALID_ARGUMENTS = [
    ({"seed": 1.5}, r"`seed` must be None or an integer\. Received: seed=1\.5"),
    ({"seed": "1"}, r"Received: seed='1'"),
    ({"mask_ratio": 0.0}, r"0\.0 < value < 1\.0\. Received: mask_ratio=0\.0"),
    ({"mask_ratio": 1.2}, r"Received: mask_ratio=1\.2"),
    ({"patch_size": -1}, r"Received: patch_size=-1"),
    ({"min_block_patches": 0}, r"`min_block_patches` must be an integer >= 1\. Received: min_block_patches=0"),
    ({"min_block_patches": 2.0}, r"Received: min_block_patches=2\.0"),
    ({"aspect_range": (0.0, 2.0)}, r"0 < low <= high\. Received: aspect_range=\(0\.0, 2\.0\)"),
    ({"aspect_range": (2.0, 1.0)}, r"Received: aspect_range=\(2\.0, 1\.0\)"),
    ({"aspect_range": (1.0,)}, r"Received: aspect_range=\(1\.0,\)"),
    ({"aspect_range": "ab"}, r"Received: aspect_range='ab'"),
    ({"max_blocks": 0}, r"`max_blocks` must be an integer >= 1\. Received: max_blocks=0"),
]


def test_invalid_arguments():
    for kwargs, match in _INVALID_ARGUMENTS:
        with pytest.raises(ValueError, match=match):
            RandomBlockMasker(**kwargs)


def test_invalid_inputs():
    with pytest.raises(ValueError, match=r"patch_size=3 must divide.*Received: input_shape=\(8, 32, 32, 3\)"):
        RandomBlockMasker(patch_size=3)(_images())
    with pytest.raises(ValueError, match=r"expects 4D images.*Received: input_shape=\(32, 32, 3\)"):
        RandomBlockMasker()(_images()[0])


def test_get_config_round_trip():
    layer = RandomBlockMasker(
        mask_ratio=0.4,
        patch_size=4,
        min_block_patches=3,
        aspect_range=(0.5, 2.0),
        max_blocks=8,
        seed=9,
        name="beit",
    )
    config = layer.get_config()
    assert {
        k: config[k]
        for k in (
            "mask_ratio",
            "patch_size",
            "min_block_patches",
            "aspect_range",
            "max_blocks",
            "seed",
            "name",
        )
    } == {
        "mask_ratio": 0.4,
        "patch_size": 4,
        "min_block_patches": 3,
        "aspect_range": [0.5, 2.0],
        "max_blocks": 8,
        "seed": 9,
        "name": "beit",
    }
    revived = run_serialization_test(layer)
    assert revived.aspect_range == (0.5, 2.0)
    assert (revived.max_blocks, revived.min_block_patches) == (8, 3)
    assert RandomBlockMasker.from_config(config).get_config() == config


def test_save_and_load_in_model(tmp_path):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(
        inputs, RandomBlockMasker(aspect_range=(0.5, 2.0), seed=0)(inputs)
    )
    path = str(tmp_path / "block_masker.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = loaded.layers[-1]
    assert isinstance(layer, RandomBlockMasker)
    assert layer.aspect_range == (0.5, 2.0)
    assert set(np.unique(_np(loaded(_images()))).tolist()) == {0.0, 1.0}


def test_jitted_calls(run_jitted):
    layer = RandomBlockMasker(mask_ratio=0.3, seed=2)
    first, second = run_jitted(layer, _images(), repeats=2)
    for masks in (first, second):
        assert masks.shape == (BATCH, 32, 32, 1)
        grid = _patch_grid(masks, 4)
        assert set(np.unique(grid).tolist()) == {0.0, 1.0}
        assert np.mean(grid.mean(axis=(1, 2)) >= 0.3) >= 0.75
    assert not np.array_equal(first, second)


def test_docstring_example_runs(docstring_example):
    namespace = {}
    exec(docstring_example(RandomBlockMasker), namespace)
    grid = _patch_grid(_np(namespace["masks"]), 4)
    assert grid.shape == (8, 8, 8)
    assert np.mean(grid.mean(axis=(1, 2)) >= 0.3) >= 0.75
    assert tuple(namespace["masked_images"].shape) == (8, 32, 32, 3)
