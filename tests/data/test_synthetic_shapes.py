import numpy as np
import pytest

from keras_adios.data import CLASS_NAMES, load_synthetic_shapes
from keras_adios.data.synthetic_shapes import _SHAPES

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def train32():
    return load_synthetic_shapes("train", num_images=600, image_size=32, seed=0)


def test_shapes_and_dtypes(train32):
    data = train32
    assert set(data) == {"images", "labels", "foreground", "parts", "background"}
    assert data["images"].shape == (600, 32, 32, 3) and data["images"].dtype == np.uint8
    assert data["labels"].shape == (600,) and data["labels"].dtype == np.int32
    assert data["foreground"].shape == (600, 32, 32) and data["foreground"].dtype == bool
    assert data["parts"].shape == (600, 32, 32) and data["parts"].dtype == np.int32
    assert data["background"].shape == (600, 32, 32, 3)
    assert data["background"].dtype == np.uint8
    assert data["labels"].min() >= 0 and data["labels"].max() < len(CLASS_NAMES)


@pytest.mark.parametrize("size", [16, 64])
def test_other_sizes(size):
    data = load_synthetic_shapes("test", num_images=20, image_size=size)
    assert data["images"].shape == (20, size, size, 3)
    assert data["parts"].shape == (20, size, size)


def test_class_names():
    assert len(CLASS_NAMES) == len(set(CLASS_NAMES)) == 10
    assert set(CLASS_NAMES) == set(_SHAPES)
    assert all(2 <= len(parts) <= 3 for parts in _SHAPES.values())


def test_deterministic_and_seed_dependent(train32):
    again = load_synthetic_shapes("train", num_images=600, image_size=32, seed=0)
    for key in train32:
        np.testing.assert_array_equal(train32[key], again[key])
    other_seed = load_synthetic_shapes("train", num_images=50, image_size=32, seed=1)
    assert not np.array_equal(other_seed["images"], train32["images"][:50])


def test_train_and_test_splits_differ(train32):
    test = load_synthetic_shapes("test", num_images=50, image_size=32, seed=0)
    assert not np.array_equal(test["images"], train32["images"][:50])
    assert not np.array_equal(test["labels"], train32["labels"][:50])


def test_smaller_dataset_is_a_prefix(train32):
    # 600 images span two generation blocks; 30 images are a prefix of them.
    small = load_synthetic_shapes("train", num_images=30, image_size=32, seed=0)
    for key in small:
        np.testing.assert_array_equal(small[key], train32[key][:30])


def test_same_scenes_at_every_resolution(train32):
    big = load_synthetic_shapes("train", num_images=100, image_size=64, seed=0)
    np.testing.assert_array_equal(big["labels"], train32["labels"][:100])
    small_fraction = train32["foreground"][:100].mean(axis=(1, 2))
    big_fraction = big["foreground"].mean(axis=(1, 2))
    np.testing.assert_allclose(small_fraction, big_fraction, atol=0.06)


def test_masks_match_the_drawn_pixels(train32):
    images = train32["images"].astype(np.int32)
    background = train32["background"].astype(np.int32)
    fg = train32["foreground"]
    # Outside the object the image is exactly the stored background.
    np.testing.assert_array_equal(images[~fg], background[~fg])
    # Inside, (almost) every pixel differs from the background.
    differs = np.any(images != background, axis=-1)[fg]
    assert differs.mean() > 0.99
    # Every part has one flat colour, and the parts of an object differ.
    for i in range(40):
        colors = []
        for part in range(1, train32["parts"][i].max() + 1):
            pixels = images[i][train32["parts"][i] == part]
            if len(pixels):
                assert (pixels == pixels[0]).all()
                colors.append(tuple(pixels[0]))
        assert len(set(colors)) == len(colors)


def test_object_colours_are_saturated_and_background_is_not(train32):
    images = train32["images"].astype(np.float32) / 255
    chroma = images.max(-1) - images.min(-1)
    fg = train32["foreground"]
    assert chroma[fg].min() > 0.5
    # Backgrounds are near-grey (HSV saturation <= 0.1; the pixel noise is grey).
    assert np.percentile(chroma[~fg], 99) < 0.1


def test_backgrounds_are_textured_but_subdued(train32):
    background = train32["background"].astype(np.float32) / 255
    means = background.mean(axis=(1, 2, 3))
    # Mid-grey values, so the background's brightness is a weak per-image cue.
    assert means.min() > 0.3 and means.max() < 0.7
    # The texture keeps a reduced range: visible, but well below the objects'.
    spread = np.percentile(background, 95, axis=(1, 2)) - np.percentile(background, 5, axis=(1, 2))
    assert 0.02 < np.median(spread) < 0.3
    assert spread.max() < 0.5


def test_parts_partition_the_foreground(train32):
    parts, labels = train32["parts"], train32["labels"]
    np.testing.assert_array_equal(parts > 0, train32["foreground"])
    all_parts_visible = 0
    for i in range(len(labels)):
        num_parts = len(_SHAPES[CLASS_NAMES[labels[i]]])
        present = np.unique(parts[i])
        assert present.min() == 0 and present.max() <= num_parts
        all_parts_visible += len(present) == num_parts + 1
    assert all_parts_visible / len(labels) > 0.9


def test_class_balance():
    labels = load_synthetic_shapes("train", num_images=1000, seed=3)["labels"]
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), np.full(10, 100))
    counts = np.bincount(load_synthetic_shapes("test", num_images=57)["labels"], minlength=10)
    assert counts.max() - counts.min() <= 1


def test_object_size_and_framing(train32):
    fraction = train32["foreground"].mean(axis=(1, 2))
    assert 0.15 < fraction.mean() < 0.4
    assert fraction.min() > 0.08 and fraction.max() < 0.5
    # Objects are in the frame, not cut by the border: the border ring holds
    # only a small share of the object pixels.
    fg = train32["foreground"]
    border = fg[:, 0].sum() + fg[:, -1].sum() + fg[:, :, 0].sum() + fg[:, :, -1].sum()
    assert border / fg.sum() < 0.05


def test_background_is_not_informative_of_the_class(train32):
    background = train32["background"].astype(np.float32).mean(axis=(1, 2, 3)) / 255
    labels = train32["labels"]
    class_means = np.array([background[labels == c].mean() for c in range(10)])
    assert class_means.max() - class_means.min() < 0.1
    # Textures vary: backgrounds are not flat.
    assert np.median(train32["background"].std(axis=(1, 2)).mean(-1)) > 5


def test_rotation_range():
    # Without rotation the "T" bar is horizontal: its object pixels span more
    # columns than rows in the top part of the object.
    data = load_synthetic_shapes("train", num_images=100, max_rotation=0.0)
    t_images = np.nonzero(data["labels"] == CLASS_NAMES.index("T"))[0]
    for i in t_images:
        bar = data["parts"][i] == 1
        rows, cols = np.nonzero(bar)
        assert np.ptp(cols) > np.ptp(rows)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split": "valid"},
        {"num_images": 0},
        {"image_size": 8},
        {"seed": -1},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        load_synthetic_shapes(**kwargs)
