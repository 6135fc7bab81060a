"""Frozen-encoder feature extraction for offline evaluation."""

import math

import keras
import numpy as np

from keras_adios.evaluation._utils import check_positive_int
from keras_adios.evaluation._utils import is_tf_dataset
from keras_adios.evaluation._utils import to_numpy


def extract_features(encoder, data, batch_size=256, verbose=0):
    """Runs a frozen encoder over a dataset and returns NumPy features.

    The encoder is run in inference mode (`training=False`): BatchNorm uses
    its moving statistics and none of its variables (moving statistics
    included) is updated. For a `keras.Model` the compiled
    `predict_on_batch` path is used (a `tf.function` on TensorFlow, `jit` on
    JAX, `no_grad` on PyTorch); any other callable is called as
    `encoder(x, training=False)`.

    Args:
        encoder: a `keras.Model` (or a callable) mapping a batch of images
            `(B, H, W, C)` to features `(B, D)`, e.g. `adios_model.encoder`.
        data: one of
            - a NumPy array (or backend tensor) of images: no labels;
            - a tuple `(images, labels)` of arrays (`labels` may be None);
            - a batched `tf.data.Dataset` yielding `images` or
              `(images, labels[, sample_weights])` or a dict with `"image"`
              and optionally `"label"` keys (TFDS style);
            - a `keras.utils.PyDataset` or any iterable of such batches.
        batch_size: int. Batch size used to slice array inputs; ignored for
            datasets and iterables, which are already batched.
        verbose: int. 0 is silent, 1 shows a `keras.utils.Progbar`.

    Returns:
        A tuple `(features, labels)`: `features` is a float32 NumPy array
        (float64 if the encoder returns float64) of shape `(num_samples, D)`;
        `labels` is a NumPy array of shape `(num_samples,)` (or whatever
        shape the labels had), or None if the data carries no labels.

    Example:

    >>> import keras, numpy as np
    >>> from keras_adios.evaluation import extract_features
    >>> encoder = keras.Sequential(
    ...     [keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D()]
    ... )
    >>> images = np.random.rand(10, 8, 8, 3).astype("float32")
    >>> labels = np.arange(10) % 2
    >>> features, y = extract_features(encoder, (images, labels), batch_size=4)
    >>> features.shape, y.shape
    ((10, 3), (10,))
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    if encoder is None or not callable(encoder):
        raise ValueError(
            "`encoder` must be a keras.Model or a callable mapping images to "
            f"features. Received: encoder={encoder!r}"
        )
    predict = _make_predict_fn(encoder)
    batches, num_batches = _iterate_batches(data, batch_size)

    progbar = keras.utils.Progbar(num_batches) if verbose else None
    features, labels = [], []
    has_labels = None
    for step, (x, y) in enumerate(batches):
        out = predict(x)
        if isinstance(out, (dict, list, tuple)):
            raise ValueError(
                "`encoder` must return a single features tensor. Received an "
                f"output of type {type(out).__name__}"
            )
        out = to_numpy(out)
        if out.dtype != np.float64:  # float16 / bfloat16 / ints -> float32
            out = out.astype("float32")
        features.append(out)
        if has_labels is None:
            has_labels = y is not None
        elif has_labels != (y is not None):
            raise ValueError(
                "Either every batch of `data` carries labels or none does. "
                f"Received: a batch {'with' if y is not None else 'without'} "
                f"labels at step {step}"
            )
        if y is not None:
            labels.append(to_numpy(y))
        if progbar is not None:
            progbar.update(step + 1)
    if not features:
        raise ValueError(f"`data` is empty. Received: data={data!r}")
    features = np.concatenate(features, axis=0)
    labels = np.concatenate(labels, axis=0) if has_labels else None
    return features, labels


def _make_predict_fn(encoder):
    if isinstance(encoder, keras.Model):
        return encoder.predict_on_batch

    def predict(x):
        try:
            return encoder(x, training=False)
        except TypeError:  # a plain function without a `training` argument
            return encoder(x)

    return predict


def _split_element(element):
    """Splits one dataset element into `(x, y_or_None)`."""
    if isinstance(element, dict):
        x = _first_key(element, ("image", "images", "x", "inputs"))
        if x is None:
            raise ValueError(
                "Dict elements of `data` need an 'image' (or 'images', 'x', "
                f"'inputs') key. Received keys: {sorted(element)}"
            )
        return x, _first_key(element, ("label", "labels", "y", "targets"))
    if isinstance(element, (tuple, list)):
        if len(element) == 1:
            return element[0], None
        if len(element) in (2, 3):
            return element[0], element[1]
        raise ValueError(
            "Tuple elements of `data` must be (images,), (images, labels) or "
            "(images, labels, sample_weights). Received a tuple of length "
            f"{len(element)}"
        )
    return element, None


def _first_key(d, keys):
    for key in keys:
        if key in d:
            return d[key]
    return None


def _iterate_batches(data, batch_size):
    """Returns `(iterator of (x, y) batches, number of batches or None)`."""
    if data is None:
        raise ValueError("`data` must not be None. Received: data=None")
    if is_tf_dataset(data):
        cardinality = int(data.cardinality())
        num_batches = cardinality if cardinality >= 0 else None
        spec = data.element_spec
        x_spec = _split_element(spec)[0] if not hasattr(spec, "shape") else spec
        shape = getattr(x_spec, "shape", None)
        if (
            shape is not None
            and shape.rank == 3
            and shape.is_fully_defined()
            and shape[-1] in (1, 3, 4)
        ):
            # Heuristic guard: an unbatched dataset of (H, W, C) images.
            raise ValueError(
                "`data` must be a *batched* tf.data.Dataset, e.g. "
                "`dataset.batch(256)`. Received a dataset whose elements have "
                f"shape {x_spec.shape}"
            )
        to_backend = keras.backend.backend() == "tensorflow"

        def gen():
            for element in data:
                x, y = _split_element(element)
                yield (x if to_backend else to_numpy(x)), y

        return gen(), num_batches
    if isinstance(data, keras.utils.PyDataset):
        num_batches = data.num_batches

        def gen():
            i = 0
            while num_batches is None or i < num_batches:
                try:
                    element = data[i]
                except IndexError:
                    return
                yield _split_element(element)
                i += 1

        return gen(), num_batches
    if isinstance(data, tuple):
        if len(data) not in (1, 2, 3):
            raise ValueError(
                "A tuple `data` must be (images, labels) (or (images,) or "
                "(images, labels, sample_weights)). Received a tuple of "
                f"length {len(data)}"
            )
        x = data[0]
        y = data[1] if len(data) > 1 else None
        return _slice_arrays(x, y, batch_size)
    if isinstance(data, np.ndarray) or hasattr(data, "shape"):
        return _slice_arrays(data, None, batch_size)
    if hasattr(data, "__iter__"):
        return (_split_element(element) for element in data), (
            len(data) if hasattr(data, "__len__") else None
        )
    raise ValueError(
        "`data` must be a NumPy array, an (images, labels) tuple, a batched "
        "tf.data.Dataset, a keras.utils.PyDataset or an iterable of batches. "
        f"Received: data of type {type(data).__name__}"
    )


def _slice_arrays(x, y, batch_size):
    x = to_numpy(x)
    n = x.shape[0]
    if y is not None:
        y = to_numpy(y)
        if y.shape[0] != n:
            raise ValueError(
                "Images and labels must have the same number of samples. "
                f"Received: images.shape={x.shape}, labels.shape={y.shape}"
            )

    def gen():
        for start in range(0, n, batch_size):
            stop = start + batch_size
            yield x[start:stop], (None if y is None else y[start:stop])

    return gen(), math.ceil(n / batch_size)
