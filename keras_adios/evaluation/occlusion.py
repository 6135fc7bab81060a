"""Occluded versions of evaluation images: random square cutouts and a learned mask.

The paper reports that ADIOS representations are more robust to occlusion.
The protocol here: a linear probe trained on clean training features is
applied, unchanged, to test images with part of each image hidden
(`background_robustness` does the classifying). Hidden pixels are set to 0 in
the normalised input space, i.e. to the dataset's mean colour, which is what
the ADIOS masked view `x * (1 - m)` does to the pixels a mask covers.
"""

import numpy as np

from keras_adios.evaluation._utils import check_positive_int
from keras_adios.evaluation.mask_metrics import compute_masks


def cutout(images, size, seed=0):
    """Hides one random `size` x `size` square of every image (set to 0).

    The square's top-left corner is drawn uniformly so that the square lies
    inside the image; the draws depend only on `seed` and the images' shape.

    Args:
        images: array `(B, H, W, C)`, normalised (0 is the mean colour).
        size: int. Side of the square, at most `min(H, W)`.
        seed: int. Seed of the square positions.

    Returns:
        A float32 copy of `images` with one square per image set to 0.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation.occlusion import cutout
    >>> out = cutout(np.ones((2, 8, 8, 3), "float32"), size=4, seed=0)
    >>> (out == 0).sum(axis=(1, 2, 3)).tolist()
    [48, 48]
    """
    images = np.array(images, dtype="float32", copy=True)
    if images.ndim != 4:
        raise ValueError(f"`images` must have shape (B, H, W, C). Received: shape {images.shape}")
    size = check_positive_int(size, "size")
    height, width = images.shape[1:3]
    if size > min(height, width):
        raise ValueError(
            f"`size` must be at most the images' side ({min(height, width)}). Received: size={size}"
        )
    rng = np.random.default_rng(seed)
    tops = rng.integers(0, height - size + 1, len(images))
    lefts = rng.integers(0, width - size + 1, len(images))
    for image, top, left in zip(images, tops, lefts):
        image[top : top + size, left : left + size] = 0.0
    return images


def most_occluding_mask(masker, images, batch_size=64):
    """Applies, to each image, the one of its N learned masks that covers most of it.

    Args:
        masker: the mask generator, mapping images `(B, H, W, C)` to soft
            masks `(B, H, W, N)` that sum to 1 over N.
        images: array `(B, H, W, C)`, normalised.
        batch_size: int. Batch size of the mask generator.

    Returns:
        `(occluded, coverage)`: `images * (1 - m)` with `m` the mask of
        largest mean coverage per image (float32, `(B, H, W, C)`), and that
        coverage per image (`(B,)`).

    Example:

    >>> import keras, numpy as np
    >>> from keras_adios.evaluation.occlusion import most_occluding_mask
    >>> masker = keras.Sequential([keras.Input((8, 8, 3)),
    ...     keras.layers.Conv2D(2, 1, activation="softmax")])
    >>> occluded, coverage = most_occluding_mask(masker, np.ones((3, 8, 8, 3), "float32"))
    >>> occluded.shape, bool((coverage >= 0.5).all())
    ((3, 8, 8, 3), True)
    """
    images = np.asarray(images, dtype="float32")
    masks = compute_masks(masker, images, batch_size=batch_size)  # (B, H, W, N)
    coverage = masks.mean(axis=(1, 2))  # (B, N)
    chosen = np.argmax(coverage, axis=-1)
    mask = np.take_along_axis(masks, chosen[:, None, None, None], axis=-1)
    return images * (1.0 - mask), coverage[np.arange(len(images)), chosen]


def occlusion_variants(images, labels, cutout_sizes=(16, 8), masker=None, seed=0, batch_size=64):
    """The clean test images and their occluded versions, as `background_robustness` variants.

    Args:
        images: array `(B, H, W, C)`, normalised.
        labels: array `(B,)` of class ids.
        cutout_sizes: sizes of the random square cutouts, one variant each
            (`"cutout_<size>"`); sizes larger than the images are refused.
        masker: a mask generator or None. With one, the variant
            `"learned_mask"` hides each image's most-occluding learned mask.
        seed: int. Seed of the cutout positions (the same squares for every
            encoder evaluated with this seed).
        batch_size: int. Batch size of the mask generator.

    Returns:
        A dict `{"clean": (images, labels), "cutout_<size>": ..., "learned_mask": ...}`.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation.occlusion import occlusion_variants
    >>> variants = occlusion_variants(np.ones((4, 16, 16, 3), "float32"), np.arange(4) % 2,
    ...                               cutout_sizes=(8, 4))
    >>> list(variants)
    ['clean', 'cutout_8', 'cutout_4']
    """
    images = np.asarray(images, dtype="float32")
    labels = np.asarray(labels)
    variants = {"clean": (images, labels)}
    for size in cutout_sizes:
        variants[f"cutout_{size}"] = (cutout(images, size, seed=seed + size), labels)
    if masker is not None:
        variants["learned_mask"] = (most_occluding_mask(masker, images, batch_size)[0], labels)
    return variants
