"""NumPy arrays as a data source: validation and `.npz` files."""

import os

import numpy as np

from keras_adios.data.errors import DatasetNotFoundError


def validate_arrays(images, labels=None):
    """Checks an image array (and labels) and returns them as NumPy arrays.

    Args:
        images: array-like `(N, H, W, 3)`, uint8 in [0, 255] or floating in
            [0, 1].
        labels: array-like `(N,)` of integers, or `None`.

    Returns:
        `(images, labels)`: `images` unchanged in dtype (uint8 or float32),
        `labels` as int32 or `None`.

    Raises:
        ValueError: wrong rank, channels, dtype, empty, or label mismatch.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        hint = ""
        if images.ndim == 3:
            hint = (
                " A single image? Add a batch axis. Grayscale (N, H, W)? "
                "Repeat it to 3 channels."
            )
        elif images.ndim == 4 and images.shape[1] == 3:
            hint = " Channels-first? Transpose to (N, H, W, 3)."
        raise ValueError(
            f"`images` must have shape (N, H, W, 3) (channels last, RGB).{hint} "
            f"Received: images.shape={images.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError("`images` is empty (N = 0).")
    if images.dtype == np.uint8:
        pass
    elif np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32, copy=False)
        finite = np.isfinite(images)
        if not finite.all():
            bad = np.flatnonzero(~finite.reshape(images.shape[0], -1).all(axis=1))
            raise ValueError(
                f"`images` contains NaN or infinite values in {bad.size} image(s), the first at "
                f"index {int(bad[0])}. One such pixel would corrupt every weight in training: "
                f"fix or drop those images. Received: images with {int((~finite).sum())} non-finite values"
            )
        low, high = float(images.min()), float(images.max())
        if low < 0.0 or high > 1.0:
            hint = " Images in [0, 255]? Divide by 255 or pass uint8." if high > 1.0 else ""
            raise ValueError(
                f"Floating `images` must be in [0, 1] (the pipeline normalises them itself).{hint} "
                f"Received: values in [{low:.4g}, {high:.4g}]"
            )
    else:
        raise ValueError(
            "`images` must be uint8 in [0, 255] or floating in [0, 1]. "
            f"Received: images.dtype={images.dtype}"
        )
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(
                "`labels` must have shape (N,) with N = len(images) = "
                f"{images.shape[0]}. Received: labels.shape={labels.shape}"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"`labels` must be integers. Received: labels.dtype={labels.dtype}"
            )
        labels = labels.astype(np.int32)
    return images, labels


def load_npz(path, images_key="images", labels_key="labels"):
    """Loads `(images, labels)` from a `.npz` file (labels optional).

    Args:
        path: path of a file written by `np.savez(path, images=..., labels=...)`.
        images_key, labels_key: array names in the file.

    Returns:
        `(images, labels)` validated by `validate_arrays` (`labels` is `None`
        when the file has no `labels_key`).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetNotFoundError(f"NumPy file '{path}' does not exist.")
    with np.load(path) as data:
        if images_key not in data:
            raise ValueError(
                f"'{path}' has no array {images_key!r}. Arrays: {sorted(data.files)}"
            )
        images = data[images_key]
        labels = data[labels_key] if labels_key in data else None
    return validate_arrays(images, labels)
