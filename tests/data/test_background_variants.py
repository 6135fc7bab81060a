import numpy as np
import pytest

from keras_adios.data import background_variants, load_synthetic_shapes

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def data():
    return load_synthetic_shapes("test", num_images=60, image_size=32, seed=0)


def test_variant_names_shapes_and_labels(data):
    variants = background_variants(data, seed=0)
    assert set(variants) == {"original", "only_fg", "mixed_rand", "mixed_same", "only_bg"}
    for images in variants.values():
        assert images.shape == data["images"].shape and images.dtype == np.uint8
    np.testing.assert_array_equal(variants["original"], data["images"])
    np.testing.assert_array_equal(variants["only_bg"], data["background"])


def test_only_fg(data):
    only_fg = background_variants(data)["only_fg"]
    fg = data["foreground"]
    assert (only_fg[~fg] == 0).all()
    np.testing.assert_array_equal(only_fg[fg], data["images"][fg])


def test_mixed_rand_keeps_the_object_and_swaps_the_background(data):
    mixed = background_variants(data, seed=0)["mixed_rand"]
    fg = data["foreground"]
    np.testing.assert_array_equal(mixed[fg], data["images"][fg])
    for i in range(len(mixed)):
        outside = ~fg[i]
        # The background is another image's background, never its own.
        assert not np.array_equal(mixed[i][outside], data["background"][i][outside])
        donors = [
            j
            for j in range(len(mixed))
            if np.array_equal(mixed[i][outside], data["background"][j][outside])
        ]
        assert donors and i not in donors


def test_mixed_rand_depends_on_the_seed(data):
    first = background_variants(data, seed=0)["mixed_rand"]
    np.testing.assert_array_equal(first, background_variants(data, seed=0)["mixed_rand"])
    assert not np.array_equal(first, background_variants(data, seed=1)["mixed_rand"])


def test_without_object_free_background(data):
    partial = {"images": data["images"], "foreground": data["foreground"]}
    variants = background_variants(partial, seed=0)
    assert set(variants) == {"original", "only_fg", "mixed_rand"}
    fg = data["foreground"]
    np.testing.assert_array_equal(variants["mixed_rand"][fg], data["images"][fg])


def test_invalid_inputs(data):
    with pytest.raises(ValueError, match="at least 2"):
        background_variants({"images": data["images"][:1], "foreground": data["foreground"][:1]})
    with pytest.raises(ValueError, match="foreground"):
        background_variants({"images": data["images"], "foreground": data["foreground"][:5]})
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        background_variants({"images": data["images"][..., 0], "foreground": data["foreground"]})


def test_mixed_same_takes_the_background_of_another_image_of_the_same_class(data):
    mixed = background_variants(data, seed=0)["mixed_same"]
    fg, labels = data["foreground"], data["labels"]
    np.testing.assert_array_equal(mixed[fg], data["images"][fg])
    for i in range(len(mixed)):
        outside = ~fg[i]
        donors = [
            j
            for j in range(len(mixed))
            if np.array_equal(mixed[i][outside], data["background"][j][outside])
        ]
        assert donors and all(labels[j] == labels[i] for j in donors), (i, donors)
        if (labels == labels[i]).sum() > 1:
            assert i not in donors


def test_mixed_same_needs_labels(data):
    unlabelled = {k: v for k, v in data.items() if k != "labels"}
    assert "mixed_same" not in background_variants(unlabelled, seed=0)
