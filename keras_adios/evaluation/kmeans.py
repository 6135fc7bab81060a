"""k-means (k-means++ initialisation) in NumPy and clustering scores."""

import numpy as np

from keras_adios.evaluation._utils import as_features
from keras_adios.evaluation._utils import as_labels
from keras_adios.evaluation._utils import check_positive_int
from keras_adios.evaluation.clustering_metrics import adjusted_rand_index
from keras_adios.evaluation.clustering_metrics import fowlkes_mallows_index
from keras_adios.evaluation.clustering_metrics import normalized_mutual_info


def kmeans(features, num_clusters, seed=0, n_init=10, max_iter=300, tol=1e-4):
    """Lloyd's k-means with greedy k-means++ initialisation, in NumPy.

    Follows scikit-learn's `KMeans(init="k-means++", algorithm="lloyd")`:
    greedy k-means++ seeding with `2 + int(log(k))` local trials, Lloyd
    iterations until the assignments stop changing or the squared centre
    shift falls below `tol * mean(var(features, axis=0))`, empty clusters
    re-seeded with the points farthest from their centres, and the best of
    `n_init` runs (lowest inertia) returned.

    Args:
        features: array `(n, D)`.
        num_clusters: int, 1 <= num_clusters <= n.
        seed: int. Seed of the NumPy random generator (deterministic).
        n_init: int. Number of restarts; the lowest-inertia run is kept.
        max_iter: int. Maximum Lloyd iterations per run.
        tol: float. Relative tolerance on the centre shift.

    Returns:
        A tuple `(assignments, centroids, inertia)`: int64 `(n,)` cluster
        ids, `(num_clusters, D)` centroids and the float sum of squared
        distances of the points to their centroid.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import kmeans
    >>> x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> assignments, centroids, inertia = kmeans(x, 2)
    >>> bool(assignments[0] == assignments[1] != assignments[2])
    True
    """
    x = as_features(features, "features")
    n = x.shape[0]
    num_clusters = check_positive_int(num_clusters, "num_clusters")
    if num_clusters > n:
        raise ValueError(
            "`num_clusters` must not exceed the number of samples "
            f"({n}). Received: num_clusters={num_clusters}"
        )
    n_init = check_positive_int(n_init, "n_init")
    max_iter = check_positive_int(max_iter, "max_iter")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    rng = np.random.default_rng(seed)
    x_sq = np.sum(np.square(x, dtype=np.float64), axis=1)
    tol = float(tol) * float(np.mean(np.var(x, axis=0, dtype=np.float64)))

    best = None
    for _ in range(n_init):
        centers = _kmeans_plusplus(x, x_sq, num_clusters, rng)
        assignments, centers, inertia = _lloyd(x, x_sq, centers, max_iter, tol)
        if best is None or inertia < best[2]:
            best = (assignments, centers, inertia)
    return best


def kmeans_clustering_scores(
    features, labels, num_clusters=None, seed=0, n_init=10, max_iter=300
):
    """Clusters features with k-means and scores the clusters against labels.

    The ADIOS clustering evaluation (`main_clustering.py`): k-means with
    `k = number of classes` on frozen features, scored with NMI, ARI and
    FMI.

    Args:
        features: array `(n, D)`.
        labels: int array `(n,)` of ground-truth classes (or one-hot).
        num_clusters: int or None. Defaults to the number of distinct labels.
        seed: int. Seed of the k-means initialisation.
        n_init: int. Number of k-means restarts.
        max_iter: int. Maximum Lloyd iterations per restart.

    Returns:
        A dict with Python floats `nmi` (`normalized_mutual_info`,
        arithmetic normalisation), `ari` (`adjusted_rand_index`), `fmi`
        (`fowlkes_mallows_index`) and `inertia`, plus the int
        `num_clusters`.

    Example:

    >>> import numpy as np
    >>> from keras_adios.evaluation import kmeans_clustering_scores
    >>> x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> kmeans_clustering_scores(x, [1, 1, 0, 0])["nmi"]
    1.0
    """
    x = as_features(features, "features")
    labels = as_labels(labels, "labels", num_samples=x.shape[0])
    if num_clusters is None:
        num_clusters = max(len(np.unique(labels)), 1)
    assignments, _, inertia = kmeans(
        x, num_clusters, seed=seed, n_init=n_init, max_iter=max_iter
    )
    return {
        "nmi": normalized_mutual_info(labels, assignments),
        "ari": adjusted_rand_index(labels, assignments),
        "fmi": fowlkes_mallows_index(labels, assignments),
        "inertia": float(inertia),
        "num_clusters": int(num_clusters),
    }


def _sq_distances(x, x_sq, centers):
    """Squared Euclidean distances `(n, k)`, clipped at 0."""
    c_sq = np.sum(np.square(centers, dtype=np.float64), axis=1)
    d = x_sq[:, None] + c_sq[None, :] - 2.0 * (x @ centers.T).astype(np.float64)
    return np.maximum(d, 0.0)


def _kmeans_plusplus(x, x_sq, num_clusters, rng):
    n = x.shape[0]
    n_local_trials = 2 + int(np.log(num_clusters))
    centers = np.empty((num_clusters, x.shape[1]), dtype=x.dtype)
    first = rng.integers(n)
    centers[0] = x[first]
    closest = _sq_distances(x, x_sq, centers[:1])[:, 0]
    potential = closest.sum()
    for c in range(1, num_clusters):
        if potential <= 0:  # all remaining points coincide with a centre
            candidates = rng.integers(n, size=n_local_trials)
        else:
            draws = rng.uniform(size=n_local_trials) * potential
            candidates = np.searchsorted(np.cumsum(closest), draws)
            candidates = np.minimum(candidates, n - 1)
        dist = _sq_distances(x, x_sq, x[candidates]).T  # (trials, n)
        dist = np.minimum(closest[None, :], dist)
        potentials = dist.sum(axis=1)
        best = int(np.argmin(potentials))
        centers[c] = x[candidates[best]]
        closest = dist[best]
        potential = potentials[best]
    return centers


def _lloyd(x, x_sq, centers, max_iter, tol):
    num_clusters = centers.shape[0]
    assignments = None
    for _ in range(max_iter):
        dist = _sq_distances(x, x_sq, centers)
        new_assignments = np.argmin(dist, axis=1)
        if assignments is not None and np.array_equal(
            new_assignments, assignments
        ):
            break
        assignments = new_assignments
        new_centers = _update_centers(x, dist, assignments, num_clusters)
        shift = float(
            np.sum(np.square(new_centers - centers, dtype=np.float64))
        )
        centers = new_centers
        if shift <= tol:
            break
    dist = _sq_distances(x, x_sq, centers)
    assignments = np.argmin(dist, axis=1).astype(np.int64)
    inertia = float(np.sum(dist[np.arange(x.shape[0]), assignments]))
    return assignments, centers, inertia


def _update_centers(x, dist, assignments, num_clusters):
    counts = np.bincount(assignments, minlength=num_clusters)
    one_hot = np.zeros((x.shape[0], num_clusters), dtype=x.dtype)
    one_hot[np.arange(x.shape[0]), assignments] = 1
    sums = (one_hot.T @ x).astype(np.float64)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        # Re-seed empty clusters with the points farthest from their centre.
        own = dist[np.arange(x.shape[0]), assignments]
        far = np.argsort(-own, kind="stable")[: empty.size]
        for cluster, point in zip(empty, far):
            old = assignments[point]
            sums[old] -= x[point]
            counts[old] -= 1
            sums[cluster] = x[point]
            counts[cluster] = 1
            assignments[point] = cluster
    return (sums / counts[:, None]).astype(x.dtype)
