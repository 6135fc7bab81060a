"""Stateless TensorFlow image ops of the SSL augmentation.

The ops follow torchvision's definitions (`RandomResizedCrop`, `ColorJitter`,
`RandomGrayscale`, `GaussianBlur`, `RandomSolarize`, `RandomHorizontalFlip`),
which the ADIOS code (built on solo-learn) uses. Images are float32 with
values in [0, 1].

Two kinds of functions:

* Parameters from U(0, 1) draws (`crop_window`, `resized_crop`,
  `color_jitter_params`) and seeded versions (`random_resized_crop`). The
  pipelines draw all the uniforms of a view with one
  `tf.random.stateless_uniform` call from the example's stateless seed (an
  int tensor of shape `(2,)`), so equal seeds give equal results, whatever
  the parallelism of the `tf.data` map that runs them.
* Deterministic transforms of a batch `(B, H, W, 3)` (or a single image
  `(H, W, 3)`) with per-image parameters of shape `(B,)` (or scalars):
  `adjust_*`, `apply_color_jitter`, `grayscale`, `gaussian_blur`,
  `solarize`, `flip_left_right`. The pipelines draw the parameters per
  example and apply these after batching, which is several times faster
  than per-example `tf.cond`s.

Why not Keras or keras-cv layers: Keras core preprocessing layers draw their
randomness from a `SeedGenerator` (a state variable), which is not
reproducible inside a parallel `tf.data` map; Keras has no RandomResizedCrop
and no apply-with-probability wrapper; keras-cv's layers are TensorFlow-only
under Keras 3. `tf.data` always runs on TensorFlow, so these ops serve every
Keras backend; `fit` converts the batches to the backend's tensors.
"""

import math

import tensorflow as tf

# torchvision `rgb_to_grayscale` weights (ITU-R 601-2 luma).
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def split_seed(seed, num):
    """`num` independent seeds `(num, 2)` derived from `seed`."""
    return tf.random.experimental.stateless_split(seed, num)


def uniform(seed, minval=0.0, maxval=1.0, shape=()):
    return tf.random.stateless_uniform(shape, seed, minval=minval, maxval=maxval)


def to_float_image(image):
    """Converts uint8 images to float32 in [0, 1]; float inputs are cast only."""
    image = tf.convert_to_tensor(image)
    if image.dtype == tf.uint8:
        return tf.cast(image, tf.float32) / 255.0
    return tf.cast(image, tf.float32)


def _per_image(value, images):
    """Reshapes per-image values `(B,)` to broadcast against `(B, H, W, C)`."""
    value = tf.cast(value, images.dtype)
    if value.shape.rank == 0:
        return value
    return tf.reshape(value, [-1] + [1] * (images.shape.rank - 1))


# === Random resized crop (per image) ===

CROP_ATTEMPTS = 10
NUM_CROP_UNIFORMS = 2 * CROP_ATTEMPTS + 2


def crop_window(height, width, uniforms, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision `RandomResizedCrop.get_params`: returns `(top, left, h, w)`.

    `uniforms` holds `NUM_CROP_UNIFORMS` U(0, 1) draws: for each of
    `CROP_ATTEMPTS` candidates an area fraction ~ U(scale) and a log aspect
    ratio (width / height) ~ U(log ratio), then the top and left offsets. The
    first candidate that fits is used, otherwise a central crop of the whole
    image with the aspect ratio clamped to `ratio`.
    """
    n = CROP_ATTEMPTS
    h = tf.cast(height, tf.float32)
    w = tf.cast(width, tf.float32)
    target_area = h * w * (scale[0] + (scale[1] - scale[0]) * uniforms[:n])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = tf.exp(log_lo + (log_hi - log_lo) * uniforms[n : 2 * n])
    cand_w = tf.round(tf.sqrt(target_area * aspect))
    cand_h = tf.round(tf.sqrt(target_area / aspect))
    valid = (cand_w > 0) & (cand_w <= w) & (cand_h > 0) & (cand_h <= h)
    first = tf.reduce_min(tf.where(valid, tf.range(n), n))
    found = first < n
    first = tf.minimum(first, n - 1)
    # Fallback: central crop of the whole image, aspect ratio clamped.
    in_ratio = w / h
    fb_w = tf.where(in_ratio > ratio[1], tf.round(h * ratio[1]), w)
    fb_h = tf.where(in_ratio < ratio[0], tf.round(w / ratio[0]), h)
    crop_h = tf.where(found, cand_h[first], fb_h)
    crop_w = tf.where(found, cand_w[first], fb_w)
    # torchvision: randint(0, H - h + 1), i.e. uniform over the valid offsets.
    top = tf.where(found, tf.minimum(tf.floor(uniforms[2 * n] * (h - crop_h + 1)), h - crop_h),
                   tf.floor((h - crop_h) / 2))
    left = tf.where(
        found,
        tf.minimum(tf.floor(uniforms[2 * n + 1] * (w - crop_w + 1)), w - crop_w),
        tf.floor((w - crop_w) / 2),
    )
    return (
        tf.cast(top, tf.int32),
        tf.cast(left, tf.int32),
        tf.cast(crop_h, tf.int32),
        tf.cast(crop_w, tf.int32),
    )


def resized_crop(image, uniforms, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """Crops the window `crop_window(..., uniforms)` and resizes it to `size`.

    Bicubic (Keys, a = -0.5, like PIL), antialiased when shrinking (like
    PIL's resampling in torchvision); clipped to [0, 1] because bicubic
    overshoots.
    """
    shape = tf.shape(image)
    top, left, crop_h, crop_w = crop_window(shape[0], shape[1], uniforms, scale, ratio)
    crop = tf.slice(image, tf.stack([top, left, 0]), tf.stack([crop_h, crop_w, -1]))
    # Antialiasing only changes the result when shrinking, and the plain
    # bicubic kernel is cheaper, so use it when enlarging (the common case).
    resized = tf.cond(
        (crop_h > size) | (crop_w > size),
        lambda: tf.image.resize(crop, [size, size], "bicubic", antialias=True),
        lambda: tf.image.resize(crop, [size, size], "bicubic", antialias=False),
    )
    resized.set_shape([size, size, image.shape[-1]])
    return tf.clip_by_value(resized, 0.0, 1.0)


def random_resized_crop(image, seed, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision `RandomResizedCrop` of one image, from a stateless seed."""
    return resized_crop(image, uniform(seed, shape=[NUM_CROP_UNIFORMS]), size, scale, ratio)


# === Colour (batched or single image) ===


def rgb_to_grayscale(images):
    """Luma `(..., H, W, 1)` with torchvision's weights."""
    weights = tf.constant(GRAY_WEIGHTS, images.dtype)
    return tf.tensordot(images, weights, axes=[[-1], [0]])[..., None]


def adjust_brightness(images, factor):
    return tf.clip_by_value(images * _per_image(factor, images), 0.0, 1.0)


def adjust_contrast(images, factor):
    """Blend with the mean luma of each image (torchvision semantics)."""
    mean = tf.reduce_mean(rgb_to_grayscale(images), axis=[-3, -2, -1], keepdims=True)
    factor = _per_image(factor, images)
    return tf.clip_by_value(factor * images + (1.0 - factor) * mean, 0.0, 1.0)


def adjust_saturation(images, factor):
    gray = rgb_to_grayscale(images)
    factor = _per_image(factor, images)
    return tf.clip_by_value(factor * images + (1.0 - factor) * gray, 0.0, 1.0)


def adjust_hue(images, delta):
    """Rotates the hue by `delta` turns (in [-0.5, 0.5]), via HSV."""
    hsv = tf.image.rgb_to_hsv(images)
    delta = _per_image(delta, images[..., 0])
    hue = tf.math.floormod(hsv[..., 0] + delta, 1.0)
    rgb = tf.image.hsv_to_rgb(tf.stack([hue, hsv[..., 1], hsv[..., 2]], axis=-1))
    return tf.clip_by_value(rgb, 0.0, 1.0)


def color_jitter_params(uniforms, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2):
    """torchvision `ColorJitter` parameters from 8 U(0, 1) draws per image.

    Args:
        uniforms: float32 `(..., 8)`: 4 for the factors, 4 for the order.

    Returns:
        `(factors, order)`: float32 `(..., 4)` brightness, contrast,
        saturation factors (from `[max(0, 1 - s), 1 + s]`) and hue shift
        (from `[-hue, hue]`); int32 `(..., 4)` a random permutation of the
        four adjustments.
    """
    lo = tf.constant(
        [max(0.0, 1.0 - brightness), max(0.0, 1.0 - contrast), max(0.0, 1.0 - saturation), -hue],
        tf.float32,
    )
    hi = tf.constant([1.0 + brightness, 1.0 + contrast, 1.0 + saturation, hue], tf.float32)
    factors = lo + (hi - lo) * uniforms[..., :4]
    order = tf.argsort(uniforms[..., 4:8], axis=-1, stable=True)
    return factors, order


def apply_color_jitter(images, factors, order, active=(True, True, True, True)):
    """Applies `ColorJitter` with parameters from `color_jitter_params`.

    `images` is `(B, H, W, 3)` with `factors`/`order` of shape `(B, 4)`, or
    one image `(H, W, 3)` with shape `(4,)`. `active` skips adjustments
    (brightness, contrast, saturation, hue) of strength 0. At each of the 4
    steps the batch is partitioned by the adjustment each image applies at
    that step, so every image is adjusted 4 times in total, not 16.
    """
    if images.shape.rank == 3:
        return apply_color_jitter(images[None], factors[None], order[None], active)[0]
    fns = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
    static_shape = images.shape
    indices = tf.range(tf.shape(images)[0])
    order = tf.cast(order, tf.int32)
    for step in range(4):
        groups = tf.dynamic_partition(images, order[:, step], 4)
        group_indices = tf.dynamic_partition(indices, order[:, step], 4)
        outputs = []
        for k in range(4):
            group = groups[k]
            if active[k]:
                group = fns[k](group, tf.gather(factors[:, k], group_indices[k]))
            outputs.append(group)
        images = tf.dynamic_stitch(group_indices, outputs)
        images.set_shape(static_shape)
    return images


def grayscale(images):
    """3-channel grayscale (all channels equal)."""
    return tf.tile(rgb_to_grayscale(images), [1] * (images.shape.rank - 1) + [3])


# === Blur, solarisation, flip (batched or single image) ===


def gaussian_kernel_1d(sigma, kernel_size):
    """Normalised 1-D Gaussian weights `(..., kernel_size)` for sigma `(...)`."""
    sigma = tf.cast(sigma, tf.float32)
    x = tf.range(kernel_size, dtype=tf.float32) - (kernel_size - 1) / 2.0
    weights = tf.exp(-(x**2) / (2.0 * sigma[..., None] ** 2))
    return weights / tf.reduce_sum(weights, axis=-1, keepdims=True)


def gaussian_blur(images, sigma, kernel_size):
    """Separable Gaussian blur with reflect padding (torchvision's padding).

    `sigma` is a scalar or one value per image `(B,)`.
    """
    single = images.shape.rank == 3
    if single:
        images = images[None]
        sigma = tf.reshape(sigma, [1])
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    channels = images.shape[-1]
    sigma = tf.broadcast_to(tf.cast(sigma, tf.float32), [batch])
    kernel = gaussian_kernel_1d(sigma, kernel_size)  # (B, k)
    kernel = tf.reshape(tf.repeat(kernel, channels, axis=0), [batch * channels, kernel_size])
    # One depthwise convolution over all images: fold the batch into channels.
    x = tf.transpose(images, [1, 2, 0, 3])
    x = tf.reshape(x, [1, height, width, batch * channels])
    pad = kernel_size // 2
    x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    kernel_t = tf.transpose(kernel)  # (k, B*C)
    x = tf.nn.depthwise_conv2d(
        x, tf.reshape(kernel_t, [kernel_size, 1, -1, 1]), [1, 1, 1, 1], "VALID"
    )
    x = tf.nn.depthwise_conv2d(
        x, tf.reshape(kernel_t, [1, kernel_size, -1, 1]), [1, 1, 1, 1], "VALID"
    )
    x = tf.transpose(tf.reshape(x, [height, width, batch, channels]), [2, 0, 1, 3])
    x = tf.clip_by_value(x, 0.0, 1.0)
    return x[0] if single else x


def solarize(images, threshold=0.5):
    """Inverts the values >= `threshold` (PIL `ImageOps.solarize`, 128/256)."""
    return tf.where(images >= threshold, 1.0 - images, images)


def flip_left_right(images):
    return tf.reverse(images, axis=[-2])
