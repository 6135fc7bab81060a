"""Backgrounds-Challenge-style variants of a dataset with foreground masks.

Xiao et al., "Noise or Signal: The Role of Image Backgrounds in Object
Recognition" (ICLR 2021) test whether a classifier relies on the object or on
the background by re-compositing test images. With the exact masks of
`load_synthetic_shapes` the variants are exact (no segmentation errors).
"""

import numpy as np


def background_variants(data, seed=0):
    """Returns re-composited variants of a split for a background-reliance test.

    Args:
        data: dict with `"images"` uint8 `(N, H, W, 3)` and `"foreground"`
            bool `(N, H, W)`, and, for `"only_bg"`, `"background"` uint8
            `(N, H, W, 3)` (the object-free image), e.g. the output of
            `load_synthetic_shapes`.
        seed: int. Seed of the random background assignment of
            `"mixed_rand"`. Defaults to `0`.

    Returns:
        A dict mapping variant name to uint8 `(N, H, W, 3)` images, all with
        the labels of `data` (index `i` of each variant shows object `i`):
        `"original"`: the images unchanged;
        `"only_fg"`: the foreground on black;
        `"mixed_rand"`: the foreground of image `i` pasted on the background
        of another, randomly chosen image `j != i` (a random cyclic
        permutation, so the background never comes from the same image);
        `"mixed_same"` (when `data` has `"labels"`): the same with `j` drawn
        among the other images of the same class (a random cyclic
        permutation within each class; an image alone in its class keeps its
        own background). Where backgrounds carry class information (the
        real Backgrounds Challenge), `mixed_same - mixed_rand` measures how
        much a classifier relies on them; on the synthetic shapes they carry
        none, so the two agree up to noise;
        `"only_bg"` (when `data` has `"background"`): the object-free
        background alone. A classifier should be at chance on it; on the
        synthetic shapes the background carries no class information.

    Example:

    ```python
    from keras_adios.data import background_variants, load_synthetic_shapes

    test = load_synthetic_shapes("test", num_images=500)
    variants = background_variants(test, seed=0)
    sorted(variants)  # ['mixed_rand', 'mixed_same', 'only_bg', 'only_fg', 'original']
    ```
    """
    images = np.asarray(data["images"])
    foreground = np.asarray(data["foreground"]).astype(bool)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            "`data['images']` must have shape (N, H, W, 3). "
            f"Received: shape={images.shape}"
        )
    if foreground.shape != images.shape[:3]:
        raise ValueError(
            "`data['foreground']` must have shape (N, H, W) matching the images. "
            f"Received: foreground.shape={foreground.shape}, "
            f"images.shape={images.shape}"
        )
    num = images.shape[0]
    if num < 2:
        raise ValueError(
            f"`background_variants` needs at least 2 images. Received: N={num}"
        )
    fg = foreground[..., None]
    if "background" in data:
        backgrounds = np.asarray(data["background"])
        if backgrounds.shape != images.shape:
            raise ValueError(
                "`data['background']` must have the shape of the images. "
                f"Received: {backgrounds.shape} vs {images.shape}"
            )
    else:
        # Without the object-free background, use the donor's image with its
        # own object blacked out (the challenge's "only_bg_b" construction).
        backgrounds = np.where(fg, np.zeros_like(images), images)

    order = np.random.default_rng(seed).permutation(num)
    donor = np.empty(num, dtype=np.int64)
    donor[order] = np.roll(order, -1)  # a cyclic permutation: donor[i] != i

    variants = {
        "original": images,
        "only_fg": np.where(fg, images, np.zeros_like(images)),
        "mixed_rand": np.where(fg, images, backgrounds[donor]),
    }
    if "labels" in data:
        labels = np.asarray(data["labels"]).reshape(-1)
        if labels.shape[0] != num:
            raise ValueError(
                "`data['labels']` must have one label per image. "
                f"Received: {labels.shape[0]} labels for {num} images"
            )
        same = _same_class_donors(labels, np.random.default_rng([seed, 1]))
        variants["mixed_same"] = np.where(fg, images, backgrounds[same])
    if "background" in data:
        variants["only_bg"] = backgrounds
    return variants


def _same_class_donors(labels, rng):
    """`donor[i]`: another image of `labels[i]`'s class (a cycle per class)."""
    donor = np.arange(labels.shape[0])
    for label in np.unique(labels):
        members = rng.permutation(np.nonzero(labels == label)[0])
        donor[members] = np.roll(members, -1)
    return donor
