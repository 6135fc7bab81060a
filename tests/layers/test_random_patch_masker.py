import keras
import numpy as np
import pytest

from keras_adios.layers import RandomPatchMasker
from harness import image_batch
from harness import patch_grid_of
from harness import run_serialization_test


# One canonical shape (8 images of 32x32, default 4-px patches: an 8x8
# grid) is reused by most tests, because on JAX every new shape costs XLA
# compilations.
BATCH = 8


def _images(batch=BATCH, height=32, width=32, channels=3):
    return image_batch(batch, height, width, channels)


_np = keras.ops.convert_to_numpy
_patch_grid = patch_grid_of


def test_output_shape_dtype_and_binary_values():
    layer = RandomPatchMasker(seed=1)
    masks = layer(_images())
    assert tuple(masks.shape) == (8, 32, 32, 1)
    assert keras.backend.standardize_dtype(masks.dtype) == "float32"
    assert set(np.unique(_np(masks)).tolist()) == {0.0, 1.0}
    assert layer.num_masks == 1
    assert layer.weights == layer.non_trainable_weights
    assert layer.trainable_weights == []
    assert layer.compute_output_shape((8, 32, 32, 3)) == (8, 32, 32, 1)


@pytest.mark.parametrize(
    "ratio, expected",
    [(0.75, 48), (0.3, 19), (0.5, 32), (0.01, 1)],
)
def test_exact_number_of_masked_patches(ratio, expected):
    # Default patch size: 32 // 8 = 4 px, an 8x8 grid of 64 patches.
    masks = _np(RandomPatchMasker(mask_ratio=ratio, seed=3)(_images()))
    grid = _patch_grid(masks, 4)
    assert grid.shape == (8, 8, 8)
    np.testing.assert_array_equal(grid.sum(axis=(1, 2)), expected)
    np.testing.assert_allclose(masks.mean(axis=(1, 2, 3)), expected / 64)


def test_rounding_is_half_up():
    # 12x12 images with 4-px patches: a 3x3 grid; 0.5 * 9 = 4.5 -> 5.
    layer = RandomPatchMasker(mask_ratio=0.5, patch_size=4, seed=0)
    grid = _patch_grid(_np(layer(_images(height=12, width=12))), 4)
    np.testing.assert_array_equal(grid.sum(axis=(1, 2)), 5)
    assert layer.num_masked_patches(9) == 5


def test_explicit_patch_size_and_rectangular_images():
    layer = RandomPatchMasker(mask_ratio=0.5, patch_size=8, seed=0)
    masks = _np(layer(_images(height=16, width=32)))
    assert masks.shape == (8, 16, 32, 1)
    grid = _patch_grid(masks, 8)
    assert grid.shape == (8, 2, 4)
    np.testing.assert_array_equal(grid.sum(axis=(1, 2)), 4)


def test_masks_differ_across_images_and_calls():
    layer = RandomPatchMasker(seed=5)
    first = _patch_grid(_np(layer(_images())), 4).reshape(BATCH, -1)
    assert len({row.tobytes() for row in first}) == BATCH
    second = _patch_grid(_np(layer(_images())), 4).reshape(BATCH, -1)
    assert not np.array_equal(first, second)
    # Every patch position gets masked in some image (uniform choice).
    assert np.concatenate([first, second]).max(axis=0).min() == 1.0


def test_same_seed_gives_same_masks():
    images = _images()
    a = _np(RandomPatchMasker(seed=42)(images))
    b = _np(RandomPatchMasker(seed=42)(images))
    c = _np(RandomPatchMasker(seed=43)(images))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


_INVALID_ARGUMENTS = [
    ({"seed": 1.5}, r"`seed` must be None or an integer\. Received: seed=1\.5"),
    ({"seed": "1"}, r"Received: seed='1'"),
    ({"mask_ratio": 0.0}, r"0\.0 < value < 1\.0\. Received: mask_ratio=0\.0"),
    ({"mask_ratio": 1.0}, r"Received: mask_ratio=1\.0"),
    ({"mask_ratio": -0.5}, r"Received: mask_ratio=-0\.5"),
    ({"mask_ratio": "0.5"}, r"Received: mask_ratio='0\.5'"),
    ({"mask_ratio": True}, r"Received: mask_ratio=True"),
    ({"patch_size": 0}, r"`patch_size` must be None or an integer >= 1\. Received: patch_size=0"),
    ({"patch_size": 2.5}, r"Received: patch_size=2\.5"),
]


def test_invalid_arguments():
    for kwargs, match in _INVALID_ARGUMENTS:
        with pytest.raises(ValueError, match=match):
            RandomPatchMasker(**kwargs)


def test_invalid_inputs():
    with pytest.raises(ValueError, match=r"patch_size=5 must divide.*Received: input_shape=\(8, 32, 32, 3\)"):
        RandomPatchMasker(patch_size=5)(_images())
    with pytest.raises(ValueError, match=r"patch_size=4 must divide.*Received: input_shape=\(8, 36, 30, 3\)"):
        # Default patch size min(36, 30) // 8 = 3 divides both, 4 does not.
        RandomPatchMasker(patch_size=4)(_images(height=36, width=30))
    with pytest.raises(ValueError, match=r"at least 8x8 pixels.*Received: input_shape=\(8, 4, 4, 3\)"):
        RandomPatchMasker()(_images(height=4, width=4))
    with pytest.raises(ValueError, match=r"expects 4D images.*Received: input_shape=\(32, 32, 3\)"):
        RandomPatchMasker()(_images()[0])


def test_get_config_round_trip():
    layer = RandomPatchMasker(mask_ratio=0.6, patch_size=8, seed=3, name="mae")
    config = layer.get_config()
    assert {k: config[k] for k in ("mask_ratio", "patch_size", "seed", "name")} == {
        "mask_ratio": 0.6,
        "patch_size": 8,
        "seed": 3,
        "name": "mae",
    }
    revived = run_serialization_test(layer)
    assert (revived.mask_ratio, revived.patch_size, revived.seed) == (0.6, 8, 3)
    assert RandomPatchMasker.from_config(config).get_config() == config


def test_save_and_load_in_model(tmp_path):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, RandomPatchMasker(mask_ratio=0.25, seed=0)(inputs))
    path = str(tmp_path / "patch_masker.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = loaded.layers[-1]
    assert isinstance(layer, RandomPatchMasker)
    assert layer.mask_ratio == 0.25
    grid = _patch_grid(_np(loaded(_images())), 4)
    np.testing.assert_array_equal(grid.sum(axis=(1, 2)), 16)


def test_jitted_calls(run_jitted):
    layer = RandomPatchMasker(mask_ratio=0.75, seed=2)
    first, second = run_jitted(layer, _images(), repeats=2)
    for masks in (first, second):
        assert masks.shape == (8, 32, 32, 1)
        grid = _patch_grid(masks, 4)
        np.testing.assert_array_equal(grid.sum(axis=(1, 2)), 48)
    # The seed state advances between compiled calls.
    assert not np.array_equal(first, second)


def test_docstring_example_runs(docstring_example):
    namespace = {}
    exec(docstring_example(RandomPatchMasker), namespace)
    grid = _patch_grid(_np(namespace["masks"]), 4)
    np.testing.assert_array_equal(grid.sum(axis=(1, 2)), 48)
    assert tuple(namespace["masked_images"].shape) == (8, 32, 32, 3)
