"""benchmarks/jax_views.py computes the package's views in JAX: same draws, same views.

The long-budget benchmark trains on a GPU machine without TensorFlow, so its
views come from this port; these tests hold it to `keras_adios.data`'s
TensorFlow ops (crop window, bicubic resize, colour jitter, grayscale, flip,
normalisation) on the synthetic-shapes presets.
"""

import os
import sys

import numpy as np
import pytest

from harness import assert_allclose

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

jax = pytest.importorskip("jax")
tf = pytest.importorskip("tensorflow")

import jax_views  # noqa: E402

from keras_adios.data import AugmentationConfig  # noqa: E402
from keras_adios.data import augmentation  # noqa: E402
from keras_adios.data import augmentation_ops  # noqa: E402


def _images(n, size=32, seed=0):
    rng = np.random.default_rng(seed)
    # Smooth images (a gradient plus blobs) and noise: bicubic overshoot and
    # the hue of grey pixels are both exercised.
    noise = rng.integers(0, 256, (n // 2, size, size, 3), dtype=np.uint8)
    y, x = np.mgrid[0:size, 0:size] / size
    smooth = np.stack([np.stack([x, y, 0.5 * (x + y)], -1) * 255] * (n - n // 2)).astype(np.uint8)
    return np.concatenate([noise, smooth])


def _uniforms(n, seed=1):
    return np.random.default_rng(seed).random((n, augmentation.NUM_VIEW_UNIFORMS)).astype(np.float32)


def test_layout_matches_the_package():
    assert jax_views.NUM_VIEW_UNIFORMS == augmentation.NUM_VIEW_UNIFORMS
    assert jax_views.NUM_CROP_UNIFORMS == augmentation_ops.NUM_CROP_UNIFORMS
    assert jax_views.GRAY_WEIGHTS == augmentation_ops.GRAY_WEIGHTS


def test_crop_window_matches():
    u = _uniforms(256)[:, : jax_views.NUM_CROP_UNIFORMS]
    # Small scales leave some images without a fitting candidate: the fallback too.
    for scale in ((0.2, 1.0), (0.08, 1.0), (0.9, 1.0)):
        got = np.stack(jax_views.crop_window(32, 32, u, scale, (3 / 4, 4 / 3)), -1)
        want = np.stack([np.stack(augmentation_ops.crop_window(32, 32, tf.constant(row), scale))
                         for row in u])
        np.testing.assert_array_equal(got.astype(np.int32), want)


@pytest.mark.parametrize("preset", ["shapes32", "shapes32_shortcut"])
def test_views_match_the_package(preset):
    config = AugmentationConfig.preset(preset)
    images, uniforms = _images(64), _uniforms(64)
    crops = tf.stack([augmentation.crop_view(img, u, config) for img, u in zip(images, uniforms)])
    want = augmentation.apply_view_params(crops, tf.constant(uniforms), config).numpy()
    got = np.asarray(jax_views.ViewMaker(config.get_config()).views(images.astype(np.float32) / 255.0, uniforms))
    # Normalised values (std 0.17-0.22): 1e-4 is well under one grey level.
    assert_allclose(got, want, atol=1e-4)
    # Every branch was taken by some image: jitter, grayscale, flips, crops below full size.
    assert (uniforms[:, jax_views.U_JITTER_APPLY] < config.color_jitter_prob).any()
    assert (uniforms[:, jax_views.U_GRAY_APPLY] < config.grayscale_prob).any()
    assert (uniforms[:, jax_views.U_FLIP_APPLY] < config.flip_prob).any()


def test_pairs_are_independent_views_of_each_image():
    config = AugmentationConfig.preset("shapes32").get_config()
    maker = jax_views.ViewMaker(config)
    images = _images(8)
    v1, v2 = maker(images, jax.random.key(0))
    assert v1.shape == v2.shape == (8, 32, 32, 3)
    assert not np.allclose(np.asarray(v1), np.asarray(v2))
    again = maker(images, jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(again[0]), np.asarray(v1))


def test_unsupported_configurations_are_refused():
    config = AugmentationConfig.preset("shapes32").get_config()
    with pytest.raises(ValueError, match="blur_prob"):
        jax_views.ViewMaker(dict(config, blur_prob=0.5))
    maker = jax_views.ViewMaker(config)
    with pytest.raises(ValueError, match="64x64"):
        maker.views(np.zeros((2, 64, 64, 3), np.float32), _uniforms(2))
