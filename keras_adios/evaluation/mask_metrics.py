"""Quality of occlusion masks against ground-truth foregrounds and parts."""

import numpy as np

from keras_adios.evaluation._utils import check_positive_int
from keras_adios.evaluation._utils import to_numpy
from keras_adios.evaluation.clustering_metrics import adjusted_rand_index


def hard_mask_assignment(masks):
    """Assigns every pixel to one mask: `argmax` over the N soft masks.

    For a single mask (`N == 1`) the assignment is the mask thresholded at
    0.5: 1 inside the mask, 0 outside.

    Args:
        masks: array `(B, H, W, N)` of soft masks (or `(B, H, W)` for a
            single mask).

    Returns:
        An int64 array `(B, H, W)` of mask ids.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import hard_mask_assignment
    >>> m = np.array([[[[0.7, 0.3], [0.2, 0.8]]]])  # (1, 1, 2, 2)
    >>> hard_mask_assignment(m)
    array([[[0, 1]]])
    """
    masks = _as_masks(masks)
    if masks.shape[-1] == 1:
        return (masks[..., 0] > 0.5).astype(np.int64)
    return np.argmax(masks, axis=-1).astype(np.int64)


def mask_confidence(masks):
    """How committed soft masks are: the mean over pixels of `max_n m_n`.

    For N masks that partition every pixel (a softmax over N), the value is
    `1 / N` when every pixel is shared equally by all masks and `1` when
    every pixel belongs to exactly one mask (hard masks).

    Args:
        masks: array `(B, H, W, N)` of soft masks.

    Returns:
        A Python float in `[1 / N, 1]` for masks that sum to 1 per pixel.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import mask_confidence
    >>> mask_confidence(np.full((1, 2, 2, 4), 0.25))
    0.25
    """
    masks = _as_masks(masks)
    return float(np.mean(np.max(masks, axis=-1)))


def mask_coverage_spread(masks):
    """How unevenly the masks share an image: the std over masks of their coverage.

    Each mask's coverage is its mean over the pixels of an image; the value is
    the standard deviation over the N masks of those coverages, averaged over
    images. `0` when every mask covers `1 / N` of every image (e.g. uniform
    masks); larger when some masks take most of an image and others little.

    Args:
        masks: array `(B, H, W, N)` of soft masks.

    Returns:
        A Python float >= 0.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import mask_coverage_spread
    >>> mask_coverage_spread(np.full((1, 2, 2, 4), 0.25))
    0.0
    >>> mask_coverage_spread(np.stack([np.ones((1, 2, 2)), np.zeros((1, 2, 2))], -1))
    0.5
    """
    masks = _as_masks(masks)
    return float(np.mean(np.std(np.mean(masks, axis=(1, 2)), axis=-1)))


def mask_foreground_iou(masks, foreground):
    """Mean over images of the best mask's IoU with the foreground.

    Each pixel is assigned to one mask (`hard_mask_assignment`: argmax over
    N; a single mask is thresholded at 0.5), the IoU of every hard mask with
    the ground-truth foreground is computed, and the best one is kept per
    image. When both a mask and the foreground are empty their IoU is 1.

    Args:
        masks: array `(B, H, W, N)` of soft masks (or `(B, H, W)`).
        foreground: array `(B, H, W)` or `(B, H, W, 1)`, boolean, {0, 1} or
            soft (thresholded at 0.5).

    Returns:
        A Python float in [0, 1].

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import mask_foreground_iou
    >>> fg = np.zeros((1, 4, 4), bool); fg[0, :2] = True  # top half
    >>> masks = np.stack([fg, ~fg], -1).astype("float32")
    >>> mask_foreground_iou(masks, fg)
    1.0
    """
    masks = _as_masks(masks)
    foreground = _as_binary(foreground, "foreground", masks.shape[:3])
    assignment = hard_mask_assignment(masks)
    if masks.shape[-1] == 1:
        hard = assignment[..., None] == 1
    else:
        hard = assignment[..., None] == np.arange(masks.shape[-1])
    fg = foreground[..., None]
    intersection = np.sum(hard & fg, axis=(1, 2)).astype(np.float64)
    union = np.sum(hard | fg, axis=(1, 2)).astype(np.float64)
    iou = np.where(union > 0, intersection / np.maximum(union, 1), 1.0)
    return float(np.mean(np.max(iou, axis=-1)))


def mask_ari(masks, segmentation, ignore_label=None):
    """Mean over images of the ARI between hard masks and a segmentation.

    Every pixel is assigned to one mask (`hard_mask_assignment`) and the
    adjusted Rand index between that partition and the ground-truth
    segmentation is computed per image over its pixels, then averaged, as
    the ADIOS code does on CLEVR. With `ignore_label`, pixels with that
    ground-truth label are left out (e.g. `ignore_label=0` for the
    "ARI-fg" variant that ignores the background); images with no pixel
    left are skipped.

    Args:
        masks: array `(B, H, W, N)` of soft masks (or `(B, H, W)`).
        segmentation: int array `(B, H, W)` (or `(B, H, W, 1)`) of segment
            ids per pixel.
        ignore_label: int or None. Ground-truth label to leave out.

    Returns:
        A Python float (1 for a perfect partition, about 0 for a random
        one); NaN if every pixel is ignored.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import mask_ari
    >>> seg = np.zeros((1, 4, 4), int); seg[0, :, 2:] = 1  # left/right
    >>> masks = np.stack([seg == 1, seg == 0], -1).astype("float32")
    >>> mask_ari(masks, seg)
    1.0
    """
    masks = _as_masks(masks)
    segmentation = to_numpy(segmentation)
    if segmentation.ndim == 4 and segmentation.shape[-1] == 1:
        segmentation = segmentation[..., 0]
    if segmentation.shape != masks.shape[:3]:
        raise ValueError(
            "`segmentation` must have shape (B, H, W) matching the masks "
            f"{masks.shape[:3]}. Received: segmentation.shape="
            f"{segmentation.shape}"
        )
    assignment = hard_mask_assignment(masks)
    scores = []
    for seg, assign in zip(segmentation, assignment):
        seg = seg.reshape(-1)
        assign = assign.reshape(-1)
        if ignore_label is not None:
            keep = seg != ignore_label
            seg, assign = seg[keep], assign[keep]
        if seg.size == 0:
            continue
        scores.append(adjusted_rand_index(seg, assign))
    if not scores:
        return float("nan")
    return float(np.mean(scores))


def evaluate_masks(
    masker,
    images,
    foreground=None,
    parts=None,
    batch_size=64,
    ignore_label=None,
):
    """Computes masks for images and scores them against ground truth.

    Args:
        masker: the occlusion model, a callable mapping images `(B, H, W, C)`
            to masks `(B, H, W, N)`, or a model with a `.masker` attribute
            (e.g. an ADIOS model). It is called with `training=False`.
        images: array `(num_images, H, W, C)` of (normalised) images, as the
            masker expects them.
        foreground: array `(num_images, H, W)` of foreground masks, or None.
        parts: int array `(num_images, H, W)` of part/object segment ids, or
            None. Without `foreground` and `parts` only the confidence is
            computed.
        batch_size: int. Images per masker call.
        ignore_label: int or None. Passed to `mask_ari` for the parts score
            (e.g. 0 to ignore the background, "ARI-fg").

    Returns:
        A dict of Python floats: `confidence` (`mask_confidence`); with
        `foreground`, `foreground_iou` (`mask_foreground_iou`) and
        `foreground_ari` (`mask_ari` against the foreground/background
        partition); with `parts`, `parts_ari`.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import evaluate_masks
    >>> def masker(x, training=False):  # splits images into top / bottom
    ...     top = np.zeros(x.shape[:3], "float32")
    ...     top[:, : x.shape[1] // 2] = 1
    ...     return np.stack([top, 1 - top], -1)
    >>> images = np.zeros((2, 4, 4, 3), "float32")
    >>> fg = np.zeros((2, 4, 4), bool); fg[:, :2] = True
    >>> evaluate_masks(masker, images, foreground=fg)["foreground_iou"]
    1.0
    """
    if getattr(masker, "masker", None) is not None:
        masker = masker.masker
    if masker is None or not callable(masker):
        raise ValueError(
            "`masker` must be a callable mapping images to masks (or a model "
            f"with a `.masker`). Received: masker={masker!r}"
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    masks = compute_masks(masker, images, batch_size=batch_size)
    results = {"confidence": mask_confidence(masks), "coverage_spread": mask_coverage_spread(masks)}
    if foreground is not None:
        foreground = _as_binary(foreground, "foreground", masks.shape[:3])
        results["foreground_iou"] = mask_foreground_iou(masks, foreground)
        results["foreground_ari"] = mask_ari(masks, foreground.astype(np.int64))
    if parts is not None:
        results["parts_ari"] = mask_ari(masks, parts, ignore_label=ignore_label)
    return results


def compute_masks(masker, images, batch_size=64):
    """Runs `masker(images, training=False)` in batches; returns NumPy masks.

    Args:
        masker: callable mapping images `(B, H, W, C)` to masks.
        images: array `(num_images, H, W, C)`.
        batch_size: int.

    Returns:
        A float32 NumPy array `(num_images, H, W, N)`.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import compute_masks
    >>> compute_masks(lambda x: np.ones(x.shape[:3] + (2,)) / 2,
    ...               np.zeros((3, 4, 4, 3))).shape
    (3, 4, 4, 2)
    """
    images = to_numpy(images)
    batch_size = check_positive_int(batch_size, "batch_size")
    outputs = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size]
        try:
            out = masker(batch, training=False)
        except TypeError:  # a plain function without `training`
            out = masker(batch)
        outputs.append(to_numpy(out).astype("float32"))
    if not outputs:
        raise ValueError("`images` must not be empty. Received: 0 images")
    return np.concatenate(outputs, axis=0)


def _as_masks(masks):
    masks = to_numpy(masks)
    if masks.ndim == 3:
        masks = masks[..., None]
    if masks.ndim != 4:
        raise ValueError(
            "`masks` must have shape (B, H, W, N) (or (B, H, W) for a single "
            f"mask). Received: masks.shape={masks.shape}"
        )
    if masks.shape[-1] < 1:
        raise ValueError(
            f"`masks` must have at least one mask. Received: masks.shape="
            f"{masks.shape}"
        )
    return masks


def _as_binary(x, name, expected_shape):
    x = to_numpy(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.shape != tuple(expected_shape):
        raise ValueError(
            f"`{name}` must have shape (B, H, W) matching the masks "
            f"{tuple(expected_shape)}. Received: {name}.shape={x.shape}"
        )
    if x.dtype == np.bool_:
        return x
    return x > 0.5
