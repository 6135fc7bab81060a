import numpy as np
import pytest

from keras_adios.evaluation import kmeans
from keras_adios.evaluation import kmeans_clustering_scores


def _blobs(seed=0, per_blob=30, dim=5, spread=0.1):
    rng = np.random.default_rng(seed)
    centres = np.array(
        [
            np.full(dim, 0.0),
            np.full(dim, 5.0),
            np.r_[5.0, np.full(dim - 1, -5.0)],
        ]
    )
    labels = np.repeat(np.arange(3), per_blob)
    features = centres[labels] + spread * rng.normal(size=(3 * per_blob, dim))
    order = rng.permutation(len(labels))
    return features[order].astype("float32"), labels[order], centres


def test_recovers_well_separated_blobs():
    features, labels, centres = _blobs()
    scores = kmeans_clustering_scores(features, labels, seed=0)
    assert scores["nmi"] == pytest.approx(1.0)
    assert scores["ari"] == pytest.approx(1.0)
    assert scores["fmi"] == pytest.approx(1.0)
    assert scores["num_clusters"] == 3

    assignments, centroids, inertia = kmeans(features, 3, seed=0)
    # Every centroid sits on one blob centre (to within the noise).
    distances = np.linalg.norm(centroids[:, None] - centres[None], axis=-1)
    assert sorted(np.argmin(distances, axis=1).tolist()) == [0, 1, 2]
    assert np.max(np.min(distances, axis=1)) < 0.1
    expected_inertia = np.sum((features - centroids[assignments]) ** 2)
    assert inertia == pytest.approx(expected_inertia, rel=1e-4)


def test_result_is_a_lloyd_fixed_point():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(200, 4)).astype("float32")
    assignments, centroids, _ = kmeans(features, 5, seed=1)
    distances = np.sum((features[:, None] - centroids[None]) ** 2, axis=-1)
    np.testing.assert_array_equal(assignments, np.argmin(distances, axis=1))
    for c in range(5):
        np.testing.assert_allclose(
            centroids[c], features[assignments == c].mean(axis=0), atol=1e-5
        )


def test_deterministic_and_more_restarts_never_hurt():
    rng = np.random.default_rng(4)
    features = rng.normal(size=(150, 3))
    first = kmeans(features, 6, seed=7, n_init=3)
    second = kmeans(features, 6, seed=7, n_init=3)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    # The first of 10 restarts is the single run of n_init=1 (same seed).
    single = kmeans(features, 6, seed=7, n_init=1)
    best = kmeans(features, 6, seed=7, n_init=10)
    assert best[2] <= single[2] + 1e-9


def test_duplicated_points_fill_every_cluster():
    features = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 5, 0)
    assignments, _, inertia = kmeans(features, 3, seed=0)
    assert sorted(np.bincount(assignments).tolist()) == [5, 5, 5]
    assert inertia == pytest.approx(0.0, abs=1e-9)


def test_num_clusters_defaults_to_number_of_distinct_labels():
    features, labels, _ = _blobs(per_blob=10)
    labels = labels * 10  # ids 0, 10, 20: still three classes
    assert kmeans_clustering_scores(features, labels)["num_clusters"] == 3


def test_invalid_arguments_raise():
    features = np.zeros((4, 2))
    with pytest.raises(ValueError, match="Received: num_clusters=5"):
        kmeans(features, 5)
    with pytest.raises(ValueError, match="Received"):
        kmeans(features, 0)
    with pytest.raises(ValueError, match="Received"):
        kmeans(np.zeros(4), 2)
    with pytest.raises(ValueError, match="Received"):
        kmeans_clustering_scores(features, [0, 1])
