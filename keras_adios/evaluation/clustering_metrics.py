"""Label-agreement scores (NMI, ARI, FMI) in NumPy.

They follow the definitions (and the edge cases) of scikit-learn's
`normalized_mutual_info_score` (arithmetic normalisation),
`adjusted_rand_score` and `fowlkes_mallows_score`, without depending on it.
"""

import numpy as np

from keras_adios.evaluation._utils import to_numpy


def _check_pair(labels_true, labels_pred):
    labels_true = to_numpy(labels_true)
    labels_pred = to_numpy(labels_pred)
    if labels_true.ndim != 1 or labels_pred.ndim != 1:
        raise ValueError(
            "Labellings must be 1D arrays. Received: shapes "
            f"{labels_true.shape} and {labels_pred.shape}"
        )
    if labels_true.shape[0] != labels_pred.shape[0]:
        raise ValueError(
            "Both labellings must have the same number of samples. "
            f"Received: {labels_true.shape[0]} and {labels_pred.shape[0]}"
        )
    return labels_true, labels_pred


def contingency_matrix(labels_true, labels_pred):
    """Counts `n[i, j]` of samples in true class i and predicted cluster j.

    Labels may be any hashable values that NumPy can sort; rows and columns
    follow the sorted unique values.

    Args:
        labels_true: array `(n,)`.
        labels_pred: array `(n,)`.

    Returns:
        An int64 array `(num_true_classes, num_pred_clusters)`.

    Example:

    >>> from keras_adios.evaluation import contingency_matrix
    >>> contingency_matrix([0, 0, 1, 1], [5, 6, 6, 6])
    array([[1, 1],
           [0, 2]])
    """
    labels_true, labels_pred = _check_pair(labels_true, labels_pred)
    _, true_ids = np.unique(labels_true, return_inverse=True)
    _, pred_ids = np.unique(labels_pred, return_inverse=True)
    true_ids = true_ids.reshape(-1)
    pred_ids = pred_ids.reshape(-1)
    num_true = int(true_ids.max()) + 1 if true_ids.size else 0
    num_pred = int(pred_ids.max()) + 1 if pred_ids.size else 0
    counts = np.zeros((num_true, num_pred), dtype=np.int64)
    np.add.at(counts, (true_ids, pred_ids), 1)
    return counts


def _entropy(counts):
    counts = counts[counts > 0].astype(np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts / total
    return float(-np.sum(p * np.log(p)))


def mutual_information(labels_true, labels_pred):
    """Mutual information (in nats) between two labellings.

    Args:
        labels_true: array `(n,)`.
        labels_pred: array `(n,)`.

    Returns:
        A Python float >= 0.

    Example:

    >>> from keras_adios.evaluation import mutual_information
    >>> round(mutual_information([0, 0, 1, 1], [1, 1, 0, 0]), 4)  # log(2)
    0.6931
    """
    counts = contingency_matrix(labels_true, labels_pred).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0
    nz = counts > 0
    p_ij = counts[nz] / total
    p_i = counts.sum(axis=1, keepdims=True) / total
    p_j = counts.sum(axis=0, keepdims=True) / total
    outer = (p_i * p_j)[nz]
    mi = float(np.sum(p_ij * (np.log(p_ij) - np.log(outer))))
    return max(mi, 0.0)


def normalized_mutual_info(labels_true, labels_pred):
    """Normalised mutual information with arithmetic-mean normalisation.

    `NMI = MI(U, V) / ((H(U) + H(V)) / 2)`, as scikit-learn's default
    (`average_method="arithmetic"`). It is 1 for identical labellings (up to
    a permutation of label ids) and about 0 for independent ones. Edge cases
    as scikit-learn: if both labellings have a single cluster (or no
    samples) the score is 1; otherwise if the MI is 0 the score is 0.

    Args:
        labels_true: array `(n,)`.
        labels_pred: array `(n,)`.

    Returns:
        A Python float in [0, 1].

    Example:

    >>> from keras_adios.evaluation import normalized_mutual_info
    >>> normalized_mutual_info([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    counts = contingency_matrix(labels_true, labels_pred)
    num_true, num_pred = counts.shape
    if (num_true == num_pred == 1) or (num_true == num_pred == 0):
        return 1.0
    mi = mutual_information(labels_true, labels_pred)
    if mi <= 0.0:
        return 0.0
    h_true = _entropy(counts.sum(axis=1))
    h_pred = _entropy(counts.sum(axis=0))
    normalizer = max((h_true + h_pred) / 2.0, np.finfo(np.float64).eps)
    return float(min(mi / normalizer, 1.0))


def _pair_counts(counts):
    """Pair confusion numbers: (tp, fp, fn, tn) as float64 pair counts."""
    counts = counts.astype(np.float64)
    n = counts.sum()
    sum_sq = np.sum(counts**2)
    a = counts.sum(axis=1)
    b = counts.sum(axis=0)
    # Ordered pairs, as scikit-learn's pair_confusion_matrix (x2 of unordered).
    tp = sum_sq - n
    fp = np.sum(b**2) - sum_sq  # same cluster, different class
    fn = np.sum(a**2) - sum_sq  # same class, different cluster
    tn = n * n - fp - fn - sum_sq
    return tp, fp, fn, tn


def adjusted_rand_index(labels_true, labels_pred):
    """Adjusted Rand index between two labellings.

    `ARI = (RI - E[RI]) / (max RI - E[RI])` (Hubert & Arabie). It is 1 for
    identical labellings (up to a permutation of label ids), about 0 for
    independent ones, and can be negative. Computed from the pair-confusion
    counts, with scikit-learn's edge case: 1 when there are no
    disagreeing pairs (e.g. both labellings put everything in one cluster).

    Args:
        labels_true: array `(n,)`.
        labels_pred: array `(n,)`.

    Returns:
        A Python float in [-0.5, 1].

    Example:

    >>> from keras_adios.evaluation import adjusted_rand_index
    >>> adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    counts = contingency_matrix(labels_true, labels_pred)
    tp, fp, fn, tn = _pair_counts(counts)
    if fn == 0 and fp == 0:
        return 1.0
    numerator = 2.0 * (tp * tn - fn * fp)
    denominator = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)
    return float(numerator / denominator)


def fowlkes_mallows_index(labels_true, labels_pred):
    """Fowlkes-Mallows index `TP / sqrt((TP + FP) (TP + FN))` over pairs.

    The ADIOS code reports it next to ARI and NMI for k-means clustering.

    Args:
        labels_true: array `(n,)`.
        labels_pred: array `(n,)`.

    Returns:
        A Python float in [0, 1] (0 when no pair shares a cluster).

    Example:

    >>> from keras_adios.evaluation import fowlkes_mallows_index
    >>> fowlkes_mallows_index([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    counts = contingency_matrix(labels_true, labels_pred)
    tp, fp, fn, _ = _pair_counts(counts)
    if tp == 0:
        return 0.0
    return float(tp / np.sqrt((tp + fp) * (tp + fn)))
