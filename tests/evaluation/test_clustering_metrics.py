import math

import numpy as np
import pytest
from scipy.special import comb
from scipy.special import xlogy

from keras_adios.evaluation import adjusted_rand_index
from keras_adios.evaluation import contingency_matrix
from keras_adios.evaluation import fowlkes_mallows_index
from keras_adios.evaluation import mutual_information
from keras_adios.evaluation import normalized_mutual_info

TRUE = [0, 0, 0, 1, 1, 1]
PRED = [0, 0, 1, 1, 2, 2]


def _ari_with_comb(labels_true, labels_pred):
    """Hubert-Arabie ARI from binomial coefficients (independent formula)."""
    _, a = np.unique(labels_true, return_inverse=True)
    _, b = np.unique(labels_pred, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    n = len(a)
    sum_comb = comb(table, 2).sum()
    sum_a = comb(table.sum(1), 2).sum()
    sum_b = comb(table.sum(0), 2).sum()
    expected = sum_a * sum_b / comb(n, 2)
    maximum = (sum_a + sum_b) / 2
    return (sum_comb - expected) / (maximum - expected)


def _nmi_with_entropies(labels_true, labels_pred):
    table = contingency_matrix(labels_true, labels_pred).astype(float)
    p = table / table.sum()
    pi, pj = p.sum(1), p.sum(0)
    h_i = -xlogy(pi, pi).sum()
    h_j = -xlogy(pj, pj).sum()
    h_ij = -xlogy(p, p).sum()
    mi = h_i + h_j - h_ij
    return mi / ((h_i + h_j) / 2)


def test_small_example_matches_hand_computation():
    # Contingency [[2, 1, 0], [0, 1, 2]]: sum C(n_ij, 2) = 2, class pairs
    # 3 + 3 = 6, cluster pairs 1 + 1 + 1 = 3, C(6, 2) = 15.
    # ARI = (2 - 6*3/15) / ((6 + 3)/2 - 6*3/15) = 0.8 / 3.3 = 8/33.
    assert adjusted_rand_index(TRUE, PRED) == pytest.approx(8 / 33)
    # MI = (2/3) log 2, H(true) = log 2, H(pred) = log 3.
    assert mutual_information(TRUE, PRED) == pytest.approx(2 / 3 * math.log(2))
    assert normalized_mutual_info(TRUE, PRED) == pytest.approx(
        (2 / 3 * math.log(2)) / ((math.log(2) + math.log(3)) / 2)
    )
    # FMI = TP / sqrt((TP + FP)(TP + FN)) = 2 / sqrt(3 * 6).
    assert fowlkes_mallows_index(TRUE, PRED) == pytest.approx(2 / math.sqrt(18))
    np.testing.assert_array_equal(
        contingency_matrix(TRUE, PRED), [[2, 1, 0], [0, 1, 2]]
    )


def test_identical_and_permuted_labellings_score_one():
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 3])
    permuted = np.array([7, 7, 3, 3, 5, 5, 5, 0])  # a relabelling
    for fn in (
        normalized_mutual_info,
        adjusted_rand_index,
        fowlkes_mallows_index,
    ):
        assert fn(labels, labels) == pytest.approx(1.0)
        assert fn(labels, permuted) == pytest.approx(1.0)


def test_string_labels_are_supported():
    assert adjusted_rand_index(["a", "a", "b"], [1, 1, 0]) == 1.0


def test_independent_labellings_score_about_zero():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, size=20000)
    b = rng.integers(0, 5, size=20000)
    assert abs(adjusted_rand_index(a, b)) < 0.005
    assert normalized_mutual_info(a, b) < 0.005


def test_random_labellings_match_independent_formulas():
    rng = np.random.default_rng(1)
    for _ in range(5):
        a = rng.integers(0, 4, size=50)
        b = rng.integers(0, 6, size=50)
        assert adjusted_rand_index(a, b) == pytest.approx(_ari_with_comb(a, b))
        assert normalized_mutual_info(a, b) == pytest.approx(
            _nmi_with_entropies(a, b)
        )


def test_edge_cases_follow_scikit_learn():
    # Both labellings a single cluster: perfect agreement.
    assert adjusted_rand_index([0, 0, 0], [1, 1, 1]) == 1.0
    assert normalized_mutual_info([0, 0, 0], [1, 1, 1]) == 1.0
    # One single cluster against a split: no information.
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 0, 0]) == 0.0
    assert normalized_mutual_info([0, 0, 1, 1], [0, 0, 0, 0]) == 0.0
    # Every sample its own cluster in both: perfect agreement.
    assert adjusted_rand_index([0, 1, 2], [2, 0, 1]) == 1.0
    # An opposite labelling gives a negative ARI.
    opposite = adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1])
    assert opposite == pytest.approx(-0.5)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="Received"):
        adjusted_rand_index([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="Received"):
        normalized_mutual_info(np.zeros((2, 2)), np.zeros((2, 2)))
