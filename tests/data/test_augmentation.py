import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_adios.data import (
    AugmentationConfig,
    augment_pair,
    augment_view,
    denormalize,
    eval_transform,
    normalize,
)

OFF = dict(
    min_scale=1.0,
    ratio=(1.0, 1.0),
    color_jitter_prob=0.0,
    grayscale_prob=0.0,
    blur_prob=0.0,
    solarization_prob=0.0,
    flip_prob=0.0,
)


def _image(size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype="uint8")


def test_pair_shapes_ranges_and_difference():
    config = AugmentationConfig.preset("cifar10")
    view1, view2 = augment_pair(_image(), tf.constant([3, 4]), config)
    for view in (view1, view2):
        assert view.shape == (32, 32, 3) and view.dtype == tf.float32
        pixels = denormalize(view, config)
        assert pixels.min() >= 0.0 and pixels.max() <= 1.0
    assert not np.allclose(view1, view2)


def test_pair_is_deterministic_in_the_seed():
    config = AugmentationConfig.preset("stl10", solarization_prob=0.2)
    image = _image(96)
    first = augment_pair(image, (5, 6), config)
    again = augment_pair(image, (5, 6), config)
    other = augment_pair(image, (5, 7), config)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.allclose(first[0], other[0])


def test_any_input_size_and_float_input():
    config = AugmentationConfig.preset("shapes64")
    image = np.random.default_rng(1).uniform(0, 1, (50, 120, 3)).astype("float32")
    view = augment_view(image, (1, 1), config)
    assert view.shape == (64, 64, 3)


def test_everything_off_gives_the_normalised_image():
    config = AugmentationConfig(32, mean=(0.1, 0.2, 0.3), std=(0.5, 0.4, 0.3), **OFF)
    image = _image()
    view = augment_view(image, (0, 1), config)
    expected = (image / 255.0 - np.array([0.1, 0.2, 0.3])) / np.array([0.5, 0.4, 0.3])
    np.testing.assert_allclose(view, expected, atol=1e-5)
    np.testing.assert_allclose(denormalize(view, config), image / 255.0, atol=1e-5)


def test_flip_with_probability_one():
    config = AugmentationConfig(32, **dict(OFF, flip_prob=1.0))
    image = _image()
    view = denormalize(augment_view(image, (0, 2), config), config)
    np.testing.assert_allclose(view, image[:, ::-1] / 255.0, atol=1e-5)


def test_flip_probability_is_respected():
    config = AugmentationConfig(16, **dict(OFF, flip_prob=0.5))
    image = _image(16)
    flipped = 0
    for seed in range(100):
        view = denormalize(augment_view(image, (seed, 0), config), config)
        is_flipped = np.allclose(view, image[:, ::-1] / 255.0, atol=1e-5)
        assert is_flipped or np.allclose(view, image / 255.0, atol=1e-5)
        flipped += is_flipped
    assert 30 <= flipped <= 70


def test_grayscale_with_probability_one():
    config = AugmentationConfig.preset("cifar10", grayscale_prob=1.0)
    view = denormalize(augment_view(_image(), (0, 3), config), config)
    np.testing.assert_allclose(view[..., 0], view[..., 1], atol=1e-5)
    np.testing.assert_allclose(view[..., 0], view[..., 2], atol=1e-5)


def test_solarization_with_probability_one():
    config = AugmentationConfig(32, **dict(OFF, solarization_prob=1.0))
    image = _image() / 255.0
    view = denormalize(augment_view(image.astype("float32"), (0, 4), config), config)
    np.testing.assert_allclose(view, np.where(image >= 0.5, 1 - image, image), atol=1e-5)


def test_blur_with_probability_one_smooths():
    config = AugmentationConfig(32, **dict(OFF, blur_prob=1.0, blur_sigma=(1.5, 2.0)))
    image = _image()
    view = denormalize(augment_view(image, (0, 5), config), config)
    assert view.std() < 0.6 * (image / 255.0).std()


def test_color_jitter_with_probability_one_changes_colours():
    config = AugmentationConfig(32, **dict(OFF, color_jitter_prob=1.0))
    image = _image() / 255.0
    changed = [
        not np.allclose(denormalize(augment_view(image, (s, 6), config), config), image, atol=1e-3)
        for s in range(10)
    ]
    assert all(changed)


def test_crop_scale_bounds():
    # A zoomed-in crop of a checkerboard has larger cells than the original.
    board = np.kron((np.indices((8, 8)).sum(0) % 2), np.ones((4, 4)))
    image = np.repeat(board[..., None], 3, axis=-1).astype("float32")
    config = AugmentationConfig(32, **dict(OFF, min_scale=0.25, max_scale=0.25))
    view = denormalize(augment_view(image, (0, 7), config), config)
    # 16x16 pixels upscaled twice: about half as many colour changes per row.
    changes = np.mean(np.abs(np.diff(view[..., 0] > 0.5, axis=1)).sum(1))
    assert 2.5 <= changes <= 5.5


def test_eval_transform_plain_resize_is_identity_at_size():
    config = AugmentationConfig.preset("cifar10")
    image = _image()
    out = eval_transform(image, config)
    np.testing.assert_allclose(denormalize(out, config), image / 255.0, atol=1e-5)


def test_eval_transform_center_crop():
    config = AugmentationConfig.preset("imagenet100")
    # 300 x 400 image: short side -> 256 (long 341), central 224 crop.
    image = np.zeros((300, 400, 3), "uint8")
    image[140:160, 190:210] = 255  # a central square
    out = denormalize(eval_transform(image, config), config)
    assert out.shape == (224, 224, 3)
    center = out[107:117, 108:118].mean()
    assert center > 0.9 and out[:60].max() < 0.05 and out[:, :60].max() < 0.05


def test_eval_transform_imagenet100s_quirk_is_opt_in():
    default = AugmentationConfig.preset("imagenet100s")
    quirk = AugmentationConfig.preset("imagenet100s", eval_resize_size=256)
    image = np.zeros((256, 256, 3), "uint8")
    image[:, :32] = 255  # a left border stripe
    kept_default = denormalize(eval_transform(image, default), default)
    kept_quirk = denormalize(eval_transform(image, quirk), quirk)
    assert kept_default.shape == kept_quirk.shape == (96, 96, 3)
    # 256 -> 110 then crop 96: most of the image is kept, the stripe partly.
    assert kept_default[:, 0].mean() > 0.5
    # The ADIOS-code quirk keeps only the central 96 of 256 px: no stripe.
    assert kept_quirk.max() < 0.05


def test_eval_transform_deterministic_and_float_input():
    config = AugmentationConfig.preset("stl10")
    image = np.random.default_rng(2).uniform(0, 1, (120, 100, 3)).astype("float32")
    first = eval_transform(image, config)
    np.testing.assert_array_equal(first, eval_transform(image, config))
    assert first.shape == (96, 96, 3)


def test_normalize_and_denormalize_inputs():
    config = AugmentationConfig.preset("imagenet100")
    images = np.random.default_rng(0).uniform(0, 1, (2, 4, 4, 3)).astype("float32")
    normalized = normalize(tf.constant(images), config)
    expected = (images - np.array(config.mean)) / np.array(config.std)
    np.testing.assert_allclose(normalized, expected, atol=1e-5)
    for value in (normalized, normalized.numpy(), keras.ops.convert_to_tensor(normalized.numpy())):
        out = denormalize(value, config)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
        np.testing.assert_allclose(out, images, atol=1e-5)
    assert denormalize(np.full((1, 1, 3), 100.0), config).max() == 1.0


@pytest.mark.parametrize("seed", [(1, 2), np.array([1, 2], "int64"), tf.constant([1, 2])])
def test_seed_forms(seed):
    config = AugmentationConfig.preset("cifar10")
    view, _ = augment_pair(_image(), seed, config)
    reference, _ = augment_pair(_image(), (1, 2), config)
    np.testing.assert_array_equal(view, reference)
