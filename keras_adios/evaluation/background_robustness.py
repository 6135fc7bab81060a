"""Accuracy of a frozen encoder + linear classifier on background variants."""

import keras
import numpy as np

from keras_adios.evaluation._utils import as_labels
from keras_adios.evaluation._utils import to_numpy
from keras_adios.evaluation.feature_extraction import extract_features
from keras_adios.evaluation.linear_probe import linear_probe


def background_robustness(
    encoder,
    classifier,
    variants,
    train_data=None,
    batch_size=256,
    probe_kwargs=None,
    verbose=0,
):
    """Evaluates one trained linear classifier on several test-set variants.

    The protocol of the "backgrounds challenge" (Xiao et al., 2020, used in
    the ADIOS paper): a classifier is trained once, on features of the
    original training images, and then evaluated, unchanged, on versions of
    the test set whose backgrounds were altered (e.g. `"original"`,
    `"only_fg"`, `"mixed_same"`, `"mixed_rand"`). Comparing the accuracies
    tells how much the representation relies on the background.

    Either pass a trained `classifier` (e.g. from
    `linear_probe(..., return_classifier=True)`) or `classifier=None` and
    `train_data=(images, labels)`, in which case a linear probe is fitted on
    the encoder's features of `train_data` first (`probe_kwargs` are passed
    to `linear_probe`).

    Args:
        encoder: the frozen encoder (run with `training=False`).
        classifier: a `keras.Model` or callable mapping features `(B, D)` to
            logits `(B, num_classes)`, or None (then `train_data` is needed).
        variants: dict mapping a variant name to its data: `(images,
            labels)` or a batched `tf.data.Dataset` of `(images, labels)`.
        train_data: `(images, labels)` (or dataset) to fit the probe on when
            `classifier` is None.
        batch_size: int. Batch size of feature extraction.
        probe_kwargs: dict or None. Extra `linear_probe` arguments.
        verbose: int. Verbosity of feature extraction and probe training.

    Returns:
        A dict mapping every variant name to its top-1 accuracy (a Python
        float), in the order of `variants`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_adios.evaluation import background_robustness
    >>> encoder = keras.Sequential(
    ...     [keras.Input((4, 4, 3)), keras.layers.GlobalAveragePooling2D()]
    ... )
    >>> rng = np.random.default_rng(0)
    >>> labels = np.arange(40) % 2
    >>> images = rng.normal(size=(40, 4, 4, 3)).astype("float32")
    >>> images[..., 0] += 3.0 * labels[:, None, None]  # the class is "red"
    >>> variants = {"original": (images, labels),
    ...             "no_red": (images * [0.0, 1.0, 1.0], labels)}
    >>> accuracies = background_robustness(
    ...     encoder, None, variants, train_data=(images, labels),
    ...     probe_kwargs={"epochs": 20})
    >>> sorted(accuracies)
    ['no_red', 'original']
    """
    if not isinstance(variants, dict) or not variants:
        raise ValueError(
            "`variants` must be a non-empty dict mapping names to (images, "
            f"labels). Received: variants of type {type(variants).__name__}"
        )
    if classifier is None:
        if train_data is None:
            raise ValueError(
                "Pass a trained `classifier` or `train_data` to fit a linear "
                "probe on. Received: classifier=None, train_data=None"
            )
        features, labels = extract_features(
            encoder, train_data, batch_size=batch_size, verbose=verbose
        )
        if labels is None:
            raise ValueError(
                "`train_data` must carry labels: (images, labels). Received "
                "data without labels"
            )
        kwargs = {"verbose": verbose}
        kwargs.update(probe_kwargs or {})
        kwargs["return_classifier"] = True
        _, classifier = linear_probe(features, labels, **kwargs)
    elif not callable(classifier):
        raise ValueError(
            "`classifier` must be a keras.Model or a callable mapping features "
            f"to logits. Received: classifier={classifier!r}"
        )

    accuracies = {}
    for name, data in variants.items():
        features, labels = extract_features(
            encoder, data, batch_size=batch_size, verbose=verbose
        )
        if labels is None:
            raise ValueError(
                f"Variant {name!r} must carry labels: (images, labels). "
                "Received data without labels"
            )
        labels = as_labels(labels, f"labels of {name!r}")
        logits = _classify(classifier, features, batch_size)
        accuracies[name] = float(np.mean(np.argmax(logits, axis=-1) == labels))
    return accuracies


def _classify(classifier, features, batch_size):
    if isinstance(classifier, keras.Model):
        outputs = [
            classifier.predict_on_batch(features[i : i + batch_size])
            for i in range(0, features.shape[0], batch_size)
        ]
        return np.concatenate([to_numpy(o) for o in outputs], axis=0)
    return to_numpy(classifier(features))
