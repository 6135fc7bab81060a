"""Weighted k-nearest-neighbour classification (solo-learn's kNN protocol)."""

import numpy as np

from keras_adios.evaluation._utils import as_features
from keras_adios.evaluation._utils import as_labels
from keras_adios.evaluation._utils import check_positive_int
from keras_adios.evaluation._utils import resolve_num_classes

DISTANCES = ("cosine", "euclidean")
_EUCLIDEAN_EPSILON = 1e-5


#: Similarities per chunk of test rows when `batch_size` is None (16 MB in float32).
_CHUNK_ELEMENTS = 2**22


def knn_classify(
    train_features,
    train_labels,
    test_features,
    k=20,
    temperature=0.07,
    num_classes=None,
    distance="cosine",
    batch_size=None,
    return_scores=False,
):
    """Weighted kNN predictions, as solo-learn's `WeightedKNNClassifier`.

    This is the kNN protocol of the ADIOS code (`src/utils/knn.py`, from
    solo-learn):

    - `distance="cosine"`: features are L2-normalised; the similarity of a
      test point to a train point is their dot product `s`; each of the `k`
      most similar train points votes for its class with weight
      `exp(s / temperature)`.
    - `distance="euclidean"`: features are used as they are; the `k`
      closest train points vote with weight `1 / (d + 1e-5)`, where `d` is
      the Euclidean distance (`temperature` is not used).

    The class score is the sum of the weights of the neighbours of that
    class, and the prediction is the class with the highest score (ties go
    to the smaller class id). `k` is clipped to the number of train points.

    The authors' script reports the best test accuracy over a grid of `k`,
    `temperature` and distances, i.e. a choice made on the test set. This
    package reports the fixed defaults `k=20, temperature=0.07` (solo-learn's
    defaults) as the headline number.

    Computed in NumPy, in chunks of `batch_size` test rows, so memory is
    `O(batch_size * num_train)`; by default the chunks hold about 4M
    similarities (16 MB), whatever the number of train points, so the memory
    used does not grow with the training set beyond the features themselves.

    Args:
        train_features: array `(num_train, D)`.
        train_labels: int array `(num_train,)` (or one-hot).
        test_features: array `(num_test, D)`.
        k: int. Number of neighbours.
        temperature: float > 0. Temperature of the cosine weights.
        num_classes: int or None. Defaults to `max(train_labels) + 1`.
        distance: `"cosine"` or `"euclidean"`.
        batch_size: int or `None`. Number of test rows per chunk; `None`
            (the default) picks `max(1, 2**22 // num_train)`.
        return_scores: bool. Also return the class scores.

    Returns:
        Int64 predictions of shape `(num_test,)`; with `return_scores=True`,
        a tuple `(predictions, scores)` with float64 scores of shape
        `(num_test, num_classes)`.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import knn_classify
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> labels = np.array([0, 0, 1, 1])
    >>> knn_classify(train, labels, np.array([[1.0, 0.2], [0.2, 1.0]]), k=2)
    array([0, 1])
    """
    train_features = as_features(train_features, "train_features")
    test_features = as_features(test_features, "test_features")
    train_labels = as_labels(
        train_labels, "train_labels", num_samples=train_features.shape[0]
    )
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            "`train_features` and `test_features` must have the same "
            f"dimension. Received: train_features.shape="
            f"{train_features.shape}, test_features.shape={test_features.shape}"
        )
    if train_features.shape[0] == 0:
        raise ValueError("`train_features` must not be empty. Received: 0 rows")
    k = check_positive_int(k, "k")
    if batch_size is None:
        batch_size = max(1, _CHUNK_ELEMENTS // train_features.shape[0])
    batch_size = check_positive_int(batch_size, "batch_size")
    if distance not in DISTANCES:
        raise ValueError(
            f"`distance` must be one of {DISTANCES}. Received: "
            f"distance={distance!r}"
        )
    if distance == "cosine" and not temperature > 0:
        raise ValueError(
            f"`temperature` must be > 0. Received: temperature={temperature}"
        )
    num_classes = resolve_num_classes(num_classes, train_labels)
    if k > train_features.shape[0]:
        raise ValueError(
            f"`k` must be at most the number of training examples ({train_features.shape[0]}): "
            f"with fewer neighbours than k the vote is not the k-NN rule. Received: k={k}"
        )

    compute_dtype = np.result_type(train_features.dtype, np.float32)
    train = train_features.astype(compute_dtype, copy=False)
    test = test_features.astype(compute_dtype, copy=False)
    if distance == "cosine":
        train = _l2_normalize(train)
        test = _l2_normalize(test)
    else:
        train_sq = np.sum(np.square(train, dtype=np.float64), axis=1)

    num_test = test.shape[0]
    scores = np.zeros((num_test, num_classes), dtype=np.float64)
    rows = np.arange(min(batch_size, num_test))[:, None]
    for start in range(0, num_test, batch_size):
        chunk = test[start : start + batch_size]
        n = chunk.shape[0]
        if distance == "cosine":
            sims = chunk @ train.T  # (n, num_train), larger is closer
            key = sims
        else:
            sq = (
                np.sum(np.square(chunk, dtype=np.float64), axis=1)[:, None]
                + train_sq[None, :]
                - 2.0 * (chunk @ train.T).astype(np.float64)
            )
            dists = np.sqrt(np.maximum(sq, 0.0))
            key = -dists
        if k < key.shape[1]:
            idx = np.argpartition(-key, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(key.shape[1]), (n, key.shape[1]))
        neighbour_key = key[rows[:n], idx].astype(np.float64)
        if distance == "cosine":
            weights = np.exp(neighbour_key / float(temperature))
        else:
            weights = 1.0 / (-neighbour_key + _EUCLIDEAN_EPSILON)
        neighbour_labels = train_labels[idx]
        chunk_scores = scores[start : start + n]
        np.add.at(chunk_scores, (rows[:n], neighbour_labels), weights)
    predictions = np.argmax(scores, axis=1).astype(np.int64)
    if return_scores:
        return predictions, scores
    return predictions


def knn_accuracy(
    train_features,
    train_labels,
    test_features,
    test_labels,
    k=20,
    temperature=0.07,
    num_classes=None,
    distance="cosine",
    batch_size=None,
):
    """Top-1 accuracy of the weighted kNN classifier (see `knn_classify`).

    Args:
        train_features: array `(num_train, D)`.
        train_labels: int array `(num_train,)` (or one-hot).
        test_features: array `(num_test, D)`.
        test_labels: int array `(num_test,)` (or one-hot).
        k: int. Number of neighbours.
        temperature: float > 0. Temperature of the cosine weights.
        num_classes: int or None. Defaults to the largest label + 1.
        distance: `"cosine"` or `"euclidean"`.
        batch_size: int or `None`. Test rows per chunk (see `knn_classify`).

    Returns:
        A Python float in [0, 1].

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import knn_accuracy
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> knn_accuracy(train, [0, 0, 1, 1], train, [0, 0, 1, 1], k=2)
    1.0
    """
    test_labels = as_labels(test_labels, "test_labels")
    train_labels = as_labels(train_labels, "train_labels")
    num_classes = resolve_num_classes(num_classes, train_labels, test_labels)
    predictions = knn_classify(
        train_features,
        train_labels,
        test_features,
        k=k,
        temperature=temperature,
        num_classes=num_classes,
        distance=distance,
        batch_size=batch_size,
    )
    if predictions.shape[0] != test_labels.shape[0]:
        raise ValueError(
            "`test_features` and `test_labels` must have the same number of "
            f"rows. Received: {predictions.shape[0]} and "
            f"{test_labels.shape[0]}"
        )
    if predictions.shape[0] == 0:
        raise ValueError("`test_features` must not be empty. Received: 0 rows")
    return float(np.mean(predictions == test_labels))


def _l2_normalize(x):
    norm = np.sqrt(
        np.sum(np.square(x, dtype=np.float64), axis=1, keepdims=True)
    )
    return (x / np.maximum(norm, 1e-12)).astype(x.dtype, copy=False)
