import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from keras_adios.evaluation import knn_accuracy
from keras_adios.evaluation import knn_classify

# Five train points. Directions (unit vectors) and labels:
#   p0 (1, 0)      class 0      p1 (0.6, 0.8)  class 1 (stored as (3, 4))
#   p2 (0.8, -0.6) class 1      p3 (-1, 0)     class 0
#   p4 (0, -1)     class 2
TRAIN = np.array(
    [[1.0, 0.0], [3.0, 4.0], [0.8, -0.6], [-1.0, 0.0], [0.0, -1.0]],
    dtype="float32",
)
LABELS = np.array([0, 1, 1, 0, 2])
# Query q = (2, 0): direction (1, 0).
QUERY = np.array([[2.0, 0.0]], dtype="float32")


def test_cosine_scores_match_hand_computation():
    # Cosine similarities of q to p0..p4: 1, 0.6, 0.8, -1, 0.
    # k=3 neighbours: p0 (1.0, class 0), p2 (0.8, class 1), p1 (0.6, class 1).
    t = 0.07
    predictions, scores = knn_classify(
        TRAIN, LABELS, QUERY, k=3, temperature=t, return_scores=True
    )
    expected = [math.exp(1.0 / t), math.exp(0.8 / t) + math.exp(0.6 / t), 0.0]
    np.testing.assert_allclose(scores[0], expected, rtol=1e-5)
    # One very close class-0 neighbour beats two farther class-1 ones.
    assert predictions.tolist() == [0]


def test_cosine_high_temperature_becomes_a_majority_vote():
    # T=1: class 0 scores e^1 = 2.718; class 1 scores e^0.8 + e^0.6 = 4.048.
    predictions, scores = knn_classify(
        TRAIN, LABELS, QUERY, k=3, temperature=1.0, return_scores=True
    )
    np.testing.assert_allclose(
        scores[0], [math.e, math.exp(0.8) + math.exp(0.6), 0.0], rtol=1e-5
    )
    assert predictions.tolist() == [1]


def test_k_equal_one_picks_the_nearest_label():
    assert knn_classify(TRAIN, LABELS, QUERY, k=1).tolist() == [0]


def test_euclidean_scores_match_hand_computation():
    # Raw (not normalised) distances of q=(2, 0): p0 1, p1 sqrt(17),
    # p2 sqrt(1.8), p3 3, p4 sqrt(5); k=3 -> p0 (0), p2 (1), p4 (2).
    # Query (0.6, -0.5): p2 sqrt(0.05) (class 1), p0 sqrt(0.41) (class 0).
    queries = np.array([[2.0, 0.0], [0.6, -0.5]], dtype="float32")
    eps = 1e-5
    _, scores = knn_classify(
        TRAIN, LABELS, queries, k=3, distance="euclidean", return_scores=True
    )
    np.testing.assert_allclose(
        scores[0],
        [1 / (1 + eps), 1 / (math.sqrt(1.8) + eps), 1 / (math.sqrt(5) + eps)],
        rtol=1e-5,
    )
    predictions = knn_classify(
        TRAIN, LABELS, queries, k=2, distance="euclidean"
    )
    assert predictions.tolist() == [0, 1]


def test_k_larger_than_the_train_set_is_refused_and_k_equal_to_it_lets_all_vote():
    assert len(TRAIN) == 5
    with pytest.raises(ValueError, match=r"at most the number of training examples \(5\).*Received: k=100"):
        knn_classify(TRAIN, LABELS, QUERY, k=100, return_scores=True)
    _, scores_all = knn_classify(TRAIN, LABELS, QUERY, k=5, return_scores=True)
    # With every point voting, class 0 also gets p3 (similarity -1).
    t = 0.07
    np.testing.assert_allclose(
        scores_all[0, 0], math.exp(1 / t) + math.exp(-1 / t), rtol=1e-6
    )


def _brute_force_scores(train, labels, test, k, t, distance, num_classes):
    scores = np.zeros((len(test), num_classes))
    if distance == "cosine":
        a = train / np.linalg.norm(train, axis=1, keepdims=True)
        b = test / np.linalg.norm(test, axis=1, keepdims=True)
        sims = 1.0 - cdist(b, a, metric="cosine")
        for i in range(len(test)):
            for j in np.argsort(-sims[i], kind="stable")[:k]:
                scores[i, labels[j]] += np.exp(sims[i, j] / t)
    else:
        dists = cdist(test, train)
        for i in range(len(test)):
            for j in np.argsort(dists[i], kind="stable")[:k]:
                scores[i, labels[j]] += 1.0 / (dists[i, j] + 1e-5)
    return scores


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_matches_brute_force_and_is_chunk_invariant(distance):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(60, 6))
    labels = rng.integers(0, 4, size=60)
    test = rng.normal(size=(23, 6))
    expected = _brute_force_scores(train, labels, test, 7, 0.1, distance, 4)
    for batch_size in (1, 5, 1000, None):
        predictions, scores = knn_classify(
            train,
            labels,
            test,
            k=7,
            temperature=0.1,
            distance=distance,
            batch_size=batch_size,
            return_scores=True,
        )
        np.testing.assert_allclose(scores, expected, rtol=1e-6)
        np.testing.assert_array_equal(predictions, np.argmax(expected, axis=1))


def test_default_chunks_are_bounded_by_the_train_set_size(monkeypatch):
    import keras_adios.evaluation.knn as knn_module

    rng = np.random.default_rng(1)
    train, labels, test = rng.normal(size=(60, 6)), rng.integers(0, 4, size=60), rng.normal(size=(23, 6))
    expected = knn_classify(train, labels, test, k=7, batch_size=23)
    monkeypatch.setattr(knn_module, "_CHUNK_ELEMENTS", 120)  # 120 similarities: 2 test rows of 60
    seen = []
    argpartition = np.argpartition
    monkeypatch.setattr(knn_module.np, "argpartition", lambda a, *args, **kw: (
        seen.append(a.shape), argpartition(a, *args, **kw))[1])
    np.testing.assert_array_equal(knn_classify(train, labels, test, k=7), expected)
    assert max(rows for rows, _ in seen) == 2 and len(seen) == 12


def test_knn_accuracy_and_one_hot_labels():
    queries = np.array([[2.0, 0.0], [0.6, -0.5]], dtype="float32")
    accuracy = knn_accuracy(
        TRAIN, LABELS, queries, [0, 0], k=2, distance="euclidean"
    )
    assert accuracy == 0.5
    one_hot = np.eye(3)[LABELS]
    assert knn_accuracy(TRAIN, one_hot, QUERY, [0], k=3) == 1.0


def test_num_classes_sets_the_score_width():
    _, scores = knn_classify(
        TRAIN, LABELS, QUERY, k=3, num_classes=6, return_scores=True
    )
    assert scores.shape == (1, 6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"distance": "manhattan"}, "distance"),
        ({"k": 0}, "k"),
        ({"temperature": 0.0}, "temperature"),
        ({"num_classes": 2}, "num_classes"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        knn_classify(TRAIN, LABELS, QUERY, **kwargs)
    assert "Received" in str(info.value)


def test_mismatched_dimensions_raise():
    with pytest.raises(ValueError, match="same dimension"):
        knn_classify(TRAIN, LABELS, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Received"):
        knn_classify(TRAIN, LABELS[:3], QUERY)
