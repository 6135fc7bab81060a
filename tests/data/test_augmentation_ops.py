import numpy as np
import pytest
import tensorflow as tf

from keras_adios.data import augmentation_ops as ops

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent


def _images(batch=4, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(0, 1, (batch, size, size, 3)).astype("float32"))


def _uniforms(seed, shape):
    return tf.random.stateless_uniform(shape, [seed, 7])


def test_to_float_image():
    image = np.array([[[0, 128, 255]]], dtype="uint8")
    np.testing.assert_allclose(ops.to_float_image(image), [[[0.0, 128 / 255, 1.0]]])
    assert ops.to_float_image(np.ones((1, 1, 3), "float64")).dtype == tf.float32


@pytest.mark.parametrize("height, width", [(32, 32), (40, 90), (300, 200)])
def test_crop_window_respects_scale_ratio_and_bounds(height, width):
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    areas, aspects = [], []
    for seed in range(120):
        top, left, h, w = (
            int(v)
            for v in ops.crop_window(
                height, width, _uniforms(seed, [ops.NUM_CROP_UNIFORMS]), scale, ratio
            )
        )
        assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
        assert h > 0 and w > 0
        areas.append(h * w / (height * width))
        aspects.append(w / h)
    areas, aspects = np.array(areas), np.array(aspects)
    # Sides are rounded to whole pixels, hence the tolerances.
    tol = 3.0 / min(height, width)
    assert areas.min() >= scale[0] - tol and areas.max() <= scale[1] + 1e-6
    assert np.mean(areas < 0.3) > 0.1  # small crops do happen
    fitted = areas < 0.999
    assert aspects[fitted].min() >= ratio[0] - 2 * tol
    assert aspects[fitted].max() <= ratio[1] + 2 * tol


def test_crop_window_fallback_is_a_central_crop():
    # No candidate can have aspect ratio >= 2 and cover the whole square.
    top, left, h, w = (
        int(v)
        for v in ops.crop_window(
            40, 40, _uniforms(0, [ops.NUM_CROP_UNIFORMS]), scale=(1.0, 1.0), ratio=(2.0, 3.0)
        )
    )
    assert (h, w) == (20, 40) and (top, left) == (10, 0)


def test_crop_window_offsets_are_uniform():
    n = ops.NUM_CROP_UNIFORMS
    tops = [
        int(ops.crop_window(64, 64, _uniforms(s, [n]), (0.25, 0.25), (1, 1))[0])
        for s in range(200)
    ]
    # A 32x32 crop of a 64x64 image: offsets 0..32 all reachable, mean ~16.
    assert min(tops) <= 2 and max(tops) >= 30 and abs(np.mean(tops) - 16) < 2.5


def test_full_crop_is_identity():
    image = _images(1, 24)[0]
    uniforms = _uniforms(3, [ops.NUM_CROP_UNIFORMS])
    out = ops.resized_crop(image, uniforms, 24, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_random_resized_crop_output():
    image = ops.to_float_image(np.random.default_rng(0).integers(0, 256, (50, 70, 3), "uint8"))
    out = ops.random_resized_crop(image, tf.constant([1, 2]), 32)
    assert out.shape == (32, 32, 3) and out.dtype == tf.float32
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    again = ops.random_resized_crop(image, tf.constant([1, 2]), 32)
    np.testing.assert_array_equal(out, again)
    other = ops.random_resized_crop(image, tf.constant([1, 3]), 32)
    assert not np.array_equal(out, other)
    # A shrinking crop (antialiased path) also works.
    big = ops.random_resized_crop(image, tf.constant([1, 2]), 8, scale=(0.9, 1.0))
    assert big.shape == (8, 8, 3)


def test_brightness_contrast_saturation():
    x = _images()
    factors = tf.constant([0.0, 0.5, 1.0, 1.7])
    f = factors.numpy()[:, None, None, None]
    xn = x.numpy()
    np.testing.assert_allclose(ops.adjust_brightness(x, factors), np.clip(xn * f, 0, 1), atol=1e-6)
    gray = xn @ np.array(ops.GRAY_WEIGHTS, "float32")
    mean = gray.mean(axis=(1, 2))[:, None, None, None]
    np.testing.assert_allclose(
        ops.adjust_contrast(x, factors), np.clip(f * xn + (1 - f) * mean, 0, 1), atol=1e-5
    )
    np.testing.assert_allclose(
        ops.adjust_saturation(x, factors),
        np.clip(f * xn + (1 - f) * gray[..., None], 0, 1),
        atol=1e-5,
    )
    # Saturation 0 gives gray, contrast 0 gives the mean gray level.
    zero_sat = ops.adjust_saturation(x, tf.zeros([4])).numpy()
    np.testing.assert_allclose(zero_sat[..., 0], zero_sat[..., 2], atol=1e-6)


def test_hue_matches_tf_adjust_hue():
    x = _images()
    deltas = tf.constant([-0.5, -0.2, 0.1, 0.45])
    out = ops.adjust_hue(x, deltas)
    for i in range(4):
        expected = tf.image.adjust_hue(x[i], float(deltas[i]))
        np.testing.assert_allclose(out[i], expected, atol=1e-5)
    # A zero shift is (numerically) the identity; a shift keeps max and min.
    np.testing.assert_allclose(ops.adjust_hue(x, tf.zeros([4])), x, atol=1e-5)
    np.testing.assert_allclose(tf.reduce_max(out, -1), tf.reduce_max(x, -1), atol=1e-5)


def test_color_jitter_params_ranges():
    factors, order = ops.color_jitter_params(
        _uniforms(0, [500, 8]), brightness=0.8, contrast=0.4, saturation=1.5, hue=0.2
    )
    factors = factors.numpy()
    for k, (low, high) in enumerate([(0.2, 1.8), (0.6, 1.4), (0.0, 2.5), (-0.2, 0.2)]):
        assert factors[:, k].min() >= low - 1e-6 and factors[:, k].max() <= high + 1e-6
        assert factors[:, k].max() - factors[:, k].min() > 0.8 * (high - low)
    np.testing.assert_array_equal(np.sort(order.numpy(), axis=1), np.tile(np.arange(4), (500, 1)))
    assert len({tuple(o) for o in order.numpy()}) > 20  # many orders occur


def test_color_jitter_applies_each_image_its_order():
    x = _images(3)
    factors = tf.constant([[1.3, 0.6, 0.2, 0.1], [0.7, 1.5, 1.8, -0.3], [1.0, 1.0, 0.0, 0.25]])
    order = tf.constant([[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]])
    out = ops.apply_color_jitter(x, factors, order)
    fns = [ops.adjust_brightness, ops.adjust_contrast, ops.adjust_saturation, ops.adjust_hue]
    for i in range(3):
        expected = x[i]
        for k in order[i].numpy():
            expected = fns[k](expected, factors[i, k])
        np.testing.assert_allclose(out[i], expected, atol=1e-5)
        # The single-image form gives the same.
        single = ops.apply_color_jitter(x[i], factors[i], order[i])
        np.testing.assert_allclose(single, expected, atol=1e-5)
    # Inactive adjustments are skipped.
    only_brightness = ops.apply_color_jitter(x, factors, order, (True, False, False, False))
    np.testing.assert_allclose(
        only_brightness, ops.adjust_brightness(x, factors[:, 0]), atol=1e-6
    )


def test_grayscale_has_equal_channels():
    x = _images()
    gray = ops.grayscale(x).numpy()
    assert gray.shape == x.shape
    np.testing.assert_array_equal(gray[..., 0], gray[..., 1])
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    expected = x.numpy() @ np.array([0.2989, 0.587, 0.114], "float32")
    np.testing.assert_allclose(gray[..., 0], expected, atol=1e-6)
    assert ops.grayscale(x[0]).shape == (16, 16, 3)


def test_gaussian_kernel():
    kernel = ops.gaussian_kernel_1d(tf.constant([0.1, 1.0, 100.0]), 5).numpy()
    np.testing.assert_allclose(kernel.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(kernel[0], [0, 0, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(kernel[2], np.full(5, 0.2), atol=1e-4)
    np.testing.assert_allclose(kernel[1], kernel[1][::-1], atol=1e-7)


def test_gaussian_blur():
    x = _images(3, 20)
    sigmas = tf.constant([0.1, 1.0, 2.0])
    blurred = ops.gaussian_blur(x, sigmas, 7)
    assert blurred.shape == x.shape
    # A tiny sigma is (numerically) the identity; a large one smooths.
    np.testing.assert_allclose(blurred[0], x[0], atol=1e-5)
    stds = [float(tf.math.reduce_std(blurred[i])) for i in range(3)]
    assert stds[0] > stds[1] > stds[2]
    # Each image uses its own sigma: the batch equals image-by-image blurs.
    for i in range(3):
        single = ops.gaussian_blur(x[i], sigmas[i], 7)
        np.testing.assert_allclose(blurred[i], single, atol=1e-6)
    # Constant images stay constant (reflect padding, normalised kernel).
    constant = tf.fill([1, 12, 12, 3], 0.3)
    np.testing.assert_allclose(ops.gaussian_blur(constant, 2.0, 5), constant, atol=1e-6)


def test_solarize_and_flip():
    x = _images()
    solar = ops.solarize(x).numpy()
    xn = x.numpy()
    np.testing.assert_allclose(solar, np.where(xn >= 0.5, 1 - xn, xn))
    assert solar.max() <= 0.5
    np.testing.assert_array_equal(ops.flip_left_right(x), xn[:, :, ::-1])
    np.testing.assert_array_equal(ops.flip_left_right(x[0]), xn[0, :, ::-1])
