"""Private NumPy helpers shared by the evaluation modules."""

import sys

import keras
import numpy as np

from keras_adios.utils.arrays import to_numpy  # noqa: F401 (used by this package)
from keras_adios.utils.validation import check_positive_int  # noqa: F401


def is_tf_dataset(data):
    """True for a `tf.data.Dataset` (without importing TensorFlow)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return False
    try:
        return isinstance(data, tf.data.Dataset)
    except AttributeError:
        return False


def as_features(features, name="features"):
    """Returns float32 (n, d) NumPy features; raises on other ranks."""
    features = to_numpy(features)
    if features.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2D array of shape (num_samples, dim). "
            f"Received: {name}.shape={features.shape}"
        )
    if not np.issubdtype(features.dtype, np.floating):
        features = features.astype("float32")
    return features


def as_labels(labels, name="labels", num_samples=None):
    """Returns int64 (n,) NumPy labels; one-hot (n, C) inputs are argmaxed."""
    labels = to_numpy(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = np.argmax(labels, axis=1)
    elif labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(
            f"`{name}` must be integer class ids of shape (num_samples,) or "
            f"one-hot of shape (num_samples, num_classes). "
            f"Received: {name}.shape={labels.shape}"
        )
    if np.issubdtype(labels.dtype, np.floating):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(
                f"`{name}` must contain integer class ids. "
                f"Received: {name} with non-integer values, e.g. "
                f"{labels[np.mod(labels, 1) != 0][:3].tolist()}"
            )
    elif not (
        np.issubdtype(labels.dtype, np.integer)
        or np.issubdtype(labels.dtype, np.bool_)
    ):
        raise ValueError(
            f"`{name}` must contain integer class ids. "
            f"Received: {name}.dtype={labels.dtype}"
        )
    labels = labels.astype("int64")
    if num_samples is not None and labels.shape[0] != num_samples:
        raise ValueError(
            f"`{name}` must have one entry per sample ({num_samples}). "
            f"Received: {name}.shape={labels.shape}"
        )
    return labels


def resolve_num_classes(num_classes, *label_arrays):
    """`num_classes` or 1 + the largest label; checks the label range."""
    arrays = [a for a in label_arrays if a is not None and a.size]
    largest = max((int(a.max()) for a in arrays), default=-1)
    smallest = min((int(a.min()) for a in arrays), default=0)
    if smallest < 0:
        raise ValueError(
            f"Labels must be non-negative class ids. Received: a label of "
            f"{smallest}"
        )
    if num_classes is None:
        return max(largest + 1, 1)
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(
            "`num_classes` must be a positive integer or None. "
            f"Received: num_classes={num_classes}"
        )
    if largest >= num_classes:
        raise ValueError(
            f"Labels must be smaller than `num_classes`={num_classes}. "
            f"Received: a label of {largest}"
        )
    return int(num_classes)


