import keras
import numpy as np
import pytest

from keras_adios.evaluation import background_robustness
from keras_adios.evaluation import cutout
from keras_adios.evaluation import most_occluding_mask
from keras_adios.evaluation import occlusion_variants


def test_cutout_hides_one_square_per_image_inside_it():
    images = np.arange(1, 3 * 10 * 12 * 2 + 1, dtype="float32").reshape(3, 10, 12, 2)
    out = cutout(images, size=4, seed=3)
    for before, after in zip(images, out):
        hidden = np.all(after == 0, axis=-1)
        rows, cols = np.nonzero(hidden)
        assert hidden.sum() == 16
        assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
        np.testing.assert_array_equal(after[~hidden], before[~hidden])
    np.testing.assert_array_equal(out, cutout(images, size=4, seed=3))  # seeded
    assert not np.array_equal(out, cutout(images, size=4, seed=4))
    assert images.min() > 0  # the input is not changed


@pytest.mark.parametrize("size", [0, 11])
def test_cutout_refuses_sizes_outside_the_image(size):
    with pytest.raises(ValueError, match="size"):
        cutout(np.ones((1, 10, 12, 3)), size=size)


def test_most_occluding_mask_picks_the_largest_mask_per_image():
    # Two hand-made masks: mask 0 covers the left quarter of image 0 and
    # three quarters of image 1; mask 1 the rest.
    masks = np.zeros((2, 4, 4, 2), "float32")
    masks[0, :, :1, 0] = 1
    masks[1, :, :3, 0] = 1
    masks[..., 1] = 1 - masks[..., 0]
    images = np.ones((2, 4, 4, 3), "float32")
    occluded, coverage = most_occluding_mask(lambda x: masks[: len(x)], images, batch_size=2)
    np.testing.assert_allclose(coverage, [0.75, 0.75])
    np.testing.assert_array_equal(occluded[0, :, :1], 1)  # mask 1 (columns 1-3) hidden
    np.testing.assert_array_equal(occluded[0, :, 1:], 0)
    np.testing.assert_array_equal(occluded[1, :, :3], 0)  # mask 0 (columns 0-2) hidden
    np.testing.assert_array_equal(occluded[1, :, 3:], 1)


def test_a_probe_that_reads_one_corner_fails_when_it_is_cut_out():
    # The class is written in the top-left 4x4 corner only; an 8x8 image
    # with a 8x8 cutout loses it entirely, a clean one keeps it.
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 2
    images = 0.05 * rng.normal(size=(200, 8, 8, 1)).astype("float32")
    images[:, :4, :4, 0] += np.where(labels, 1.0, -1.0)[:, None, None]
    encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    variants = occlusion_variants(images, labels, cutout_sizes=(8,))
    accuracies = background_robustness(
        encoder, None, variants, train_data=(images, labels), probe_kwargs={"epochs": 30, "seed": 0}
    )
    assert accuracies["clean"] > 0.95
    assert accuracies["cutout_8"] == pytest.approx(0.5)  # every image is blank: one class for all
