"""The SSL views of `keras_adios.data` in JAX, computed on the accelerator.

`benchmarks/long_budget.py` trains on a GPU machine that has JAX but no
TensorFlow, so the package's `tf.data` pipeline cannot run there. This module
computes the same views from the same U(0, 1) draws, batched on the device:

* the random resized crop (`augmentation_ops.crop_window`), then TensorFlow's
  bicubic resize (Keys cubic, a = -0.5, half-pixel centres, taps outside the
  crop weighted 0 and the rest renormalised, the fractional offset rounded to
  1/1024 as TensorFlow's coefficient table does) as two per-image weight
  matrices, `out = Wy @ crop @ Wx^T`;
* colour jitter in a per-image random order, grayscale, horizontal flip, each
  with its probability, and the normalisation (`augmentation.apply_view_params`).

Only what the synthetic-shapes presets use is ported: crops that are not
larger than the output (the images are already at the training size, so no
antialiased shrinking), no blur, no solarisation; `ViewMaker` refuses any
other configuration. `tests/benchmarks/test_jax_views.py` checks that, given
the same draws, the views equal the package's (to float rounding). The draws
themselves come from `jax.random`, not from TensorFlow's stateless seeds, so
a run here sees other (equally distributed) views than a CPU run.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

CROP_ATTEMPTS = 10
NUM_CROP_UNIFORMS = 2 * CROP_ATTEMPTS + 2
# Layout of one view's draws, as in keras_adios.data.augmentation.
U_JITTER_APPLY = NUM_CROP_UNIFORMS
U_JITTER = slice(NUM_CROP_UNIFORMS + 1, NUM_CROP_UNIFORMS + 9)
U_GRAY_APPLY = NUM_CROP_UNIFORMS + 9
U_FLIP_APPLY = NUM_CROP_UNIFORMS + 13
NUM_VIEW_UNIFORMS = NUM_CROP_UNIFORMS + 14
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)
_TABLE_SIZE = 1024  # TensorFlow's bicubic coefficient table


def crop_window(height, width, uniforms, scale, ratio):
    """`augmentation_ops.crop_window` for a batch: `(top, left, h, w)`, each `(B,)`."""
    n = CROP_ATTEMPTS
    h, w = float(height), float(width)
    area = h * w * (scale[0] + (scale[1] - scale[0]) * uniforms[:, :n])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = jnp.exp(log_lo + (log_hi - log_lo) * uniforms[:, n : 2 * n])
    cand_w = jnp.round(jnp.sqrt(area * aspect))
    cand_h = jnp.round(jnp.sqrt(area / aspect))
    valid = (cand_w > 0) & (cand_w <= w) & (cand_h > 0) & (cand_h <= h)
    first = jnp.min(jnp.where(valid, jnp.arange(n), n), axis=1)
    found = first < n
    first = jnp.minimum(first, n - 1)
    pick = lambda cand: jnp.take_along_axis(cand, first[:, None], axis=1)[:, 0]  # noqa: E731
    in_ratio = w / h
    fb_w = round(h * ratio[1]) if in_ratio > ratio[1] else w
    fb_h = round(w / ratio[0]) if in_ratio < ratio[0] else h
    crop_h = jnp.where(found, pick(cand_h), fb_h)
    crop_w = jnp.where(found, pick(cand_w), fb_w)
    top = jnp.where(found, jnp.minimum(jnp.floor(uniforms[:, 2 * n] * (h - crop_h + 1)), h - crop_h),
                    jnp.floor((h - crop_h) / 2))
    left = jnp.where(found, jnp.minimum(jnp.floor(uniforms[:, 2 * n + 1] * (w - crop_w + 1)), w - crop_w),
                     jnp.floor((w - crop_w) / 2))
    return top, left, crop_h, crop_w


def _keys(x, a=-0.5):
    x = jnp.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return jnp.where(x <= 1, near, jnp.where(x < 2, far, 0.0))


def resize_weights(start, length, in_size, out_size):
    """Per-image bicubic weights `(B, out_size, in_size)` that resize the
    window `[start, start + length)` of an axis of `in_size` pixels to
    `out_size` (TensorFlow's `resize_bicubic` with half-pixel centres)."""
    scale = (length / out_size)[:, None]  # (B, 1)
    centre = (jnp.arange(out_size, dtype=jnp.float32)[None] + 0.5) * scale - 0.5
    base = jnp.floor(centre)
    delta = jnp.round((centre - base) * _TABLE_SIZE) / _TABLE_SIZE
    taps = jnp.arange(-1, 3, dtype=jnp.float32)  # the 4 neighbours
    index = base[..., None] + taps  # (B, out, 4), inside the window
    weight = _keys(delta[..., None] - taps)
    weight = jnp.where((index >= 0) & (index < length[:, None, None]), weight, 0.0)
    weight = weight / jnp.sum(weight, axis=-1, keepdims=True)
    columns = (start[:, None, None] + jnp.clip(index, 0, length[:, None, None] - 1)).astype(jnp.int32)
    onehot = jax.nn.one_hot(columns, in_size, dtype=jnp.float32)  # (B, out, 4, in)
    return jnp.einsum("bot,botn->bon", weight, onehot)


def resized_crops(images, uniforms, size, scale, ratio):
    """Random resized crops `(B, size, size, 3)` of float images in [0, 1]."""
    height, width = images.shape[1], images.shape[2]
    top, left, crop_h, crop_w = crop_window(height, width, uniforms[:, :NUM_CROP_UNIFORMS], scale, ratio)
    wy = resize_weights(top, crop_h, height, size)
    wx = resize_weights(left, crop_w, width, size)
    out = jnp.einsum("byh,bhwc,bxw->byxc", wy, images, wx, precision=jax.lax.Precision.HIGHEST)
    return jnp.clip(out, 0.0, 1.0)


def _gray(images):
    return jnp.tensordot(images, jnp.asarray(GRAY_WEIGHTS, images.dtype), axes=[[-1], [0]])[..., None]


def _per_image(value):
    return value[:, None, None, None]


def rgb_to_hsv(rgb):
    """TensorFlow's `rgb_to_hsv` (colorspace_op.h)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = jnp.max(rgb, axis=-1)
    rng = v - jnp.min(rgb, axis=-1)
    s = jnp.where(v > 0, rng / jnp.where(v > 0, v, 1.0), 0.0)
    norm = 1.0 / (6.0 * jnp.where(rng > 0, rng, 1.0))
    h = jnp.where(r == v, norm * (g - b), jnp.where(g == v, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0))
    h = jnp.where(rng > 0, h, 0.0)
    h = jnp.where(h < 0, h + 1.0, h)
    return h, s, v


def hsv_to_rgb(h, s, v):
    """TensorFlow's `hsv_to_rgb` (colorspace_op.h)."""
    dh = h * 6.0
    dr = jnp.clip(jnp.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = jnp.clip(-jnp.abs(dh - 2.0) + 2.0, 0.0, 1.0)
    db = jnp.clip(-jnp.abs(dh - 4.0) + 2.0, 0.0, 1.0)
    one_minus_s = 1.0 - s
    return jnp.stack([(one_minus_s + s * d) * v for d in (dr, dg, db)], axis=-1)


def adjust(images, kind, factor):
    """One colour-jitter adjustment (0 brightness, 1 contrast, 2 saturation, 3 hue)."""
    f = _per_image(factor)
    if kind == 0:
        out = images * f
    elif kind == 1:
        mean = jnp.mean(_gray(images), axis=(1, 2, 3), keepdims=True)
        out = f * images + (1.0 - f) * mean
    elif kind == 2:
        out = f * images + (1.0 - f) * _gray(images)
    else:
        h, s, v = rgb_to_hsv(images)
        out = hsv_to_rgb(jnp.mod(h + factor[:, None, None], 1.0), s, v)
    return jnp.clip(out, 0.0, 1.0)


def color_jitter(images, uniforms, strengths):
    """`ColorJitter` from 8 draws per image `(B, 8)`: 4 factors, 4 for the order."""
    brightness, contrast, saturation, hue = strengths
    lo = jnp.asarray([max(0.0, 1.0 - brightness), max(0.0, 1.0 - contrast), max(0.0, 1.0 - saturation), -hue])
    hi = jnp.asarray([1.0 + brightness, 1.0 + contrast, 1.0 + saturation, hue])
    factors = lo + (hi - lo) * uniforms[:, :4]
    order = jnp.argsort(uniforms[:, 4:8], axis=-1, stable=True)
    active = [s > 0 for s in strengths]
    for step in range(4):
        out = images
        for kind in range(4):
            if active[kind]:
                chosen = _per_image(order[:, step] == kind)
                out = jnp.where(chosen, adjust(images, kind, factors[:, kind]), out)
        images = out
    return images


class ViewMaker:
    """Makes batches of pairs of views on the accelerator, jitted.

    Args:
        config: the `AugmentationConfig.get_config()` dict of the run.

    Example:

    ```python
    maker = ViewMaker(config_dict)
    view1, view2 = maker(images_uint8, jax.random.key(0))
    ```
    """

    def __init__(self, config):
        unsupported = {
            "blur_prob": config["blur_prob"], "solarization_prob": config["solarization_prob"],
        }
        unsupported = {k: v for k, v in unsupported.items() if v}
        if unsupported:
            raise ValueError(f"jax_views ports the synthetic-shapes presets only (no blur, no "
                             f"solarisation). Received: {unsupported}")
        self.config = dict(config)
        self._pair = jax.jit(self._make_pair)

    def views(self, images, uniforms):
        """Views `(B, S, S, 3)` of float images in [0, 1] from draws `(B, NUM_VIEW_UNIFORMS)`."""
        c = self.config
        size = int(c["image_size"])
        if images.shape[1] < size or images.shape[2] < size:
            raise ValueError(f"jax_views crops without shrinking: images must be at least "
                             f"{size}x{size}. Received: {images.shape[1]}x{images.shape[2]}")
        if images.shape[1] > size or images.shape[2] > size:
            raise ValueError(f"jax_views does not port the antialiased shrinking: images must be "
                             f"{size}x{size}. Received: {images.shape[1]}x{images.shape[2]}")
        views = resized_crops(images, uniforms, size, (c["min_scale"], c["max_scale"]), tuple(c["ratio"]))
        strengths = (c["brightness"], c["contrast"], c["saturation"], c["hue"])
        if c["color_jitter_prob"] > 0 and any(s > 0 for s in strengths):
            jittered = color_jitter(views, uniforms[:, U_JITTER], strengths)
            views = jnp.where(_per_image(uniforms[:, U_JITTER_APPLY] < c["color_jitter_prob"]), jittered, views)
        if c["grayscale_prob"] > 0:
            gray = jnp.repeat(_gray(views), 3, axis=-1)
            views = jnp.where(_per_image(uniforms[:, U_GRAY_APPLY] < c["grayscale_prob"]), gray, views)
        if c["flip_prob"] > 0:
            views = jnp.where(_per_image(uniforms[:, U_FLIP_APPLY] < c["flip_prob"]), views[:, :, ::-1], views)
        return (views - jnp.asarray(c["mean"], jnp.float32)) / jnp.asarray(c["std"], jnp.float32)

    def _make_pair(self, images, key):
        images = images.astype(jnp.float32) / 255.0
        uniforms = jax.random.uniform(key, (2, images.shape[0], NUM_VIEW_UNIFORMS))
        return self.views(images, uniforms[0]), self.views(images, uniforms[1])

    def __call__(self, images, key):
        """Two views of each uint8 image `(B, H, W, 3)`, independently drawn."""
        return self._pair(images, key)


def normalize(images, config):
    """Evaluation input: uint8 images at the training size, normalised (`eval_transform`
    is the identity on such images when `eval_crop_fraction` is 1)."""
    mean, std = np.asarray(config["mean"], np.float32), np.asarray(config["std"], np.float32)
    return (images.astype(np.float32) / 255.0 - mean) / std
