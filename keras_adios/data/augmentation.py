"""Two-view SSL augmentation and the evaluation transform, inside `tf.data`.

`augment_pair(image, seed, config)` produces the two independently augmented
views of the ADIOS pipeline (`pretrain_dataloader.py` of the official code,
via solo-learn), in this order:

1. RandomResizedCrop(image_size, scale=(min_scale, max_scale),
   ratio=(3/4, 4/3), bicubic);
2. ColorJitter(brightness, contrast, saturation, hue), with p=0.8;
3. grayscale, with p=0.2;
4. Gaussian blur (sigma ~ U(0.1, 2), kernel ~10 % of the size), with
   p=`blur_prob`;
5. solarisation, with p=`solarization_prob`;
6. horizontal flip, with p=0.5;
7. normalisation with the dataset's mean/std.

Implementation notes: everything uses TensorFlow's *stateless* random ops,
driven by an explicit seed: all random numbers of a view are drawn at once,
`view_uniforms(seed)` (`tf.random.stateless_uniform`). The pipelines
(`keras_adios.data.make_pretrain_dataset`) derive each example's seed from
(global seed, epoch, example index) with `stateless_fold_in`, so results do
not depend on `num_parallel_calls`/AUTOTUNE and are exactly reproducible.
The work is split in two: `crop_view` (per image, because crop windows and
input sizes differ) and `apply_view_params` (the colour, blur, solarisation
and flip steps, vectorised over a batch, each image with its own draws), which
is several times faster than per-image `tf.cond`s. `augment_pair` and
`augment_view` run both parts for one image.

This is written once here because Keras core preprocessing layers keep their
randomness in `SeedGenerator` state (not reproducible inside a parallel
`tf.data` map), Keras lacks RandomResizedCrop and RandomApply, and keras-cv's
layers only run on the TensorFlow backend under Keras 3. `tf.data` is always
TensorFlow, so this serves all Keras backends.
"""

import numpy as np
import tensorflow as tf

from keras_adios.data import augmentation_ops as ops


def _as_seed(seed):
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    seed.shape.assert_is_compatible_with([2])
    return seed


def normalize(image, config):
    """`(image - mean) / std` per channel, for float images in [0, 1]."""
    mean = tf.constant(config.mean, tf.float32)
    std = tf.constant(config.std, tf.float32)
    return (image - mean) / std


# Layout of the U(0, 1) draws of one view (one `stateless_uniform` call).
_U_CROP = slice(0, ops.NUM_CROP_UNIFORMS)
_U_JITTER_APPLY = ops.NUM_CROP_UNIFORMS
_U_JITTER = slice(ops.NUM_CROP_UNIFORMS + 1, ops.NUM_CROP_UNIFORMS + 9)
_U_GRAY_APPLY = ops.NUM_CROP_UNIFORMS + 9
_U_BLUR_APPLY = ops.NUM_CROP_UNIFORMS + 10
_U_BLUR_SIGMA = ops.NUM_CROP_UNIFORMS + 11
_U_SOLAR_APPLY = ops.NUM_CROP_UNIFORMS + 12
_U_FLIP_APPLY = ops.NUM_CROP_UNIFORMS + 13
NUM_VIEW_UNIFORMS = ops.NUM_CROP_UNIFORMS + 14


def view_uniforms(seed, num_views=None):
    """All U(0, 1) draws of one view `(NUM_VIEW_UNIFORMS,)`, or of several
    views `(num_views, NUM_VIEW_UNIFORMS)`, from a stateless seed."""
    shape = [NUM_VIEW_UNIFORMS] if num_views is None else [num_views, NUM_VIEW_UNIFORMS]
    return tf.random.stateless_uniform(shape, _as_seed(seed))


def crop_view(image, uniforms, config):
    """Per-image part of a view: the random resized crop, float32 `(S, S, 3)`.

    Args:
        image: `(H, W, 3)` uint8 (or float32 in [0, 1]), any size.
        uniforms: float32 `(NUM_VIEW_UNIFORMS,)` from `view_uniforms`.
        config: an `AugmentationConfig`.
    """
    return ops.resized_crop(
        ops.to_float_image(image),
        uniforms[_U_CROP],
        config.image_size,
        scale=(config.min_scale, config.max_scale),
        ratio=config.ratio,
    )


def apply_view_params(images, uniforms, config):
    """Batched part of the views: colour jitter, grayscale, blur, solarise,
    flip (each applied with its probability), then normalisation.

    Args:
        images: float32 `(B, S, S, 3)` crops from `crop_view`.
        uniforms: float32 `(B, NUM_VIEW_UNIFORMS)`, the views' draws.
        config: an `AugmentationConfig`.

    Returns:
        float32 `(B, S, S, 3)` normalised views. Each view only depends on its
        own crop and draws, not on the rest of the batch.
    """

    def where(u, probability, new, old):
        return tf.where(tf.reshape(u < probability, [-1, 1, 1, 1]), new, old)

    active = (config.brightness > 0, config.contrast > 0, config.saturation > 0, config.hue > 0)
    if config.color_jitter_prob > 0 and any(active):
        factors, order = ops.color_jitter_params(
            uniforms[:, _U_JITTER],
            config.brightness,
            config.contrast,
            config.saturation,
            config.hue,
        )
        jittered = ops.apply_color_jitter(images, factors, order, active)
        images = where(uniforms[:, _U_JITTER_APPLY], config.color_jitter_prob, jittered, images)
    if config.grayscale_prob > 0:
        images = where(
            uniforms[:, _U_GRAY_APPLY], config.grayscale_prob, ops.grayscale(images), images
        )
    if config.blur_prob > 0:
        low, high = config.blur_sigma
        sigma = low + (high - low) * uniforms[:, _U_BLUR_SIGMA]
        blurred = ops.gaussian_blur(images, sigma, config.kernel_size)
        images = where(uniforms[:, _U_BLUR_APPLY], config.blur_prob, blurred, images)
    if config.solarization_prob > 0:
        images = where(
            uniforms[:, _U_SOLAR_APPLY], config.solarization_prob, ops.solarize(images), images
        )
    if config.flip_prob > 0:
        images = where(
            uniforms[:, _U_FLIP_APPLY], config.flip_prob, ops.flip_left_right(images), images
        )
    return normalize(images, config)


def augment_view(image, seed, config):
    """One augmented, normalised view of one image.

    Args:
        image: `(H, W, 3)` uint8 tensor (or float32 in [0, 1]), any size.
        seed: int tensor of shape `(2,)`, the stateless seed of this view.
        config: an `AugmentationConfig`.

    Returns:
        float32 `(image_size, image_size, 3)`, normalised.
    """
    uniforms = view_uniforms(seed)
    crop = crop_view(image, uniforms, config)
    view = apply_view_params(crop[None], uniforms[None], config)[0]
    view.set_shape([config.image_size, config.image_size, 3])
    return view


def augment_pair(image, seed, config):
    """The two independently augmented views of one image.

    Args:
        image: `(H, W, 3)` uint8 tensor (or float32 in [0, 1]), any size.
        seed: int tensor of shape `(2,)` (a stateless seed pair); the draws of
            both views come from `view_uniforms(seed, num_views=2)`.
        config: an `AugmentationConfig`.

    Returns:
        `(view1, view2)`, float32 `(image_size, image_size, 3)` each,
        normalised with `config.mean`/`config.std`. They equal (up to float
        rounding) the views `make_pretrain_dataset` gives an example whose
        seed is `seed`; the pipeline runs `crop_view` per example and
        `apply_view_params` per batch.

    Example:

    ```python
    import numpy as np
    from keras_adios.data import AugmentationConfig, augment_pair

    config = AugmentationConfig.preset("cifar10")
    image = np.random.randint(0, 256, (32, 32, 3), dtype="uint8")
    view1, view2 = augment_pair(image, (1, 2), config)
    ```
    """
    uniforms = view_uniforms(seed, num_views=2)
    crops = tf.stack(
        [crop_view(image, uniforms[0], config), crop_view(image, uniforms[1], config)]
    )
    views = apply_view_params(crops, uniforms, config)
    views.set_shape([2, config.image_size, config.image_size, 3])
    return views[0], views[1]


def eval_transform(image, config):
    """Deterministic evaluation transform: resize, central crop, normalise.

    The short side is resized (bilinear, antialiased) to
    `config.eval_resize_size`, or to `round(image_size / eval_crop_fraction)`
    when that is `None`, keeping the aspect ratio; then the central
    `image_size x image_size` square is cropped. No resize happens when the
    short side already has that size (e.g. CIFAR at 32 px).

    Presets: CIFAR/STL10/shapes use `eval_crop_fraction=1` (a plain resize
    for square images, STL10's `Resize(96)`); ImageNet100 uses 0.875
    (`Resize(256)` + `CenterCrop(224)`, as in the ADIOS code).

    Note on ImageNet100-S: the ADIOS code evaluates it with `Resize(256)`
    then `CenterCrop(96)`, i.e. only the central ~37 % of the image side, while
    pretraining sees whole images at 96 px. That is probably a quirk and is
    *not* copied by default: the `"imagenet100s"` preset resizes the short side
    to 110 (= 96 / 0.875) and crops 96. To reproduce the quirk, use
    `AugmentationConfig.preset("imagenet100s", eval_resize_size=256)`.

    Args:
        image: `(H, W, 3)` uint8 tensor (or float32 in [0, 1]), any size.
        config: an `AugmentationConfig`.

    Returns:
        float32 `(image_size, image_size, 3)`, normalised.
    """
    image = ops.to_float_image(image)
    size = config.image_size
    if config.eval_resize_size is not None:
        short = config.eval_resize_size
    else:
        short = int(round(size / config.eval_crop_fraction))
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    # torchvision Resize(int): the short side becomes `short`, the long side
    # int(short * long / short_side).
    hf, wf = tf.cast(h, tf.float64), tf.cast(w, tf.float64)
    short_side = tf.minimum(hf, wf)
    new_h = tf.where(h <= w, short, tf.cast(tf.floor(short * hf / short_side), tf.int32))
    new_w = tf.where(h <= w, tf.cast(tf.floor(short * wf / short_side), tf.int32), short)
    new_h = tf.cast(new_h, tf.int32)
    new_w = tf.cast(new_w, tf.int32)
    image = tf.cond(
        (new_h == h) & (new_w == w),
        lambda: image,
        lambda: tf.clip_by_value(
            tf.image.resize(image, tf.stack([new_h, new_w]), "bilinear", antialias=True),
            0.0,
            1.0,
        ),
    )
    top = tf.cast(tf.round(tf.cast(new_h - size, tf.float32) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(new_w - size, tf.float32) / 2.0), tf.int32)
    image = tf.slice(image, tf.stack([top, left, 0]), [size, size, 3])
    image = normalize(image, config)
    image.set_shape([size, size, 3])
    return image


def denormalize(images, config):
    """Undoes the normalisation for visualisation.

    Args:
        images: normalised images `(..., 3)`: a NumPy array, a TensorFlow
            tensor or a tensor of the current Keras backend.
        config: the `AugmentationConfig` used to normalise them.

    Returns:
        float32 NumPy array of the same shape, clipped to [0, 1].
    """
    if tf.is_tensor(images):
        images = images.numpy()
    elif not isinstance(images, np.ndarray):
        import keras

        images = keras.ops.convert_to_numpy(images)
    images = np.asarray(images, dtype=np.float32)
    mean = np.asarray(config.mean, np.float32)
    std = np.asarray(config.std, np.float32)
    return np.clip(images * std + mean, 0.0, 1.0)
