"""Every loss against an independent NumPy hand computation."""

import math

import numpy as np
import pytest
from keras import ops

from keras_adios import losses
from harness import assert_allclose


def _normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _nt_xent_numpy(z1, z2, temperature):
    # Straight from the definition: for each of the 2B anchors, -log of the
    # softmax over all other anchors, evaluated at the positive.
    z = _normalize(np.concatenate([z1, z2]).astype(np.float64))
    n = len(z)
    b = n // 2
    total = 0.0
    for i in range(n):
        positive = (i + b) % n
        numerator = math.exp(z[i] @ z[positive] / temperature)
        denominator = sum(math.exp(z[i] @ z[j] / temperature) for j in range(n) if j != i)
        total += -math.log(numerator / denominator)
    return total / n


@pytest.mark.parametrize("temperature", [0.1, 0.2, 1.0])
def test_nt_xent_matches_hand_computation(temperature):
    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(5, 7)).astype("float32")
    z2 = rng.normal(size=(5, 7)).astype("float32")
    expected = _nt_xent_numpy(z1, z2, temperature)
    assert_allclose(losses.nt_xent(z1, z2, temperature), expected, atol=1e-4, rtol=1e-5)


def test_nt_xent_is_scale_invariant_and_low_for_aligned_pairs():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(8, 16)).astype("float32")
    aligned = float(losses.nt_xent(z, 3.0 * z, 0.1))
    shuffled = float(losses.nt_xent(z, z[::-1].copy(), 0.1))
    assert aligned < shuffled
    assert_allclose(losses.nt_xent(z, z, 0.1), aligned, atol=1e-5)


def test_nt_xent_with_gather_fn_on_one_replica_equals_local():
    rng = np.random.default_rng(2)
    z1 = rng.normal(size=(4, 3)).astype("float32")
    z2 = rng.normal(size=(4, 3)).astype("float32")
    local = losses.nt_xent(z1, z2, 0.2)
    gathered = losses.nt_xent(z1, z2, 0.2, gather_fn=lambda z: (z, 0))
    assert_allclose(gathered, local, atol=1e-6)


def test_nt_xent_with_gather_fn_uses_global_negatives():
    # Replica 1 of 2: its rows sit at offset 3 of the global batch. Its loss
    # must equal the NumPy loss of the global batch restricted to its anchors.
    rng = np.random.default_rng(3)
    g1 = rng.normal(size=(6, 4)).astype("float32")
    g2 = rng.normal(size=(6, 4)).astype("float32")
    local1, local2 = g1[3:], g2[3:]
    # The gather receives the normalised local rows and returns the
    # normalised global batch, as a real all-gather would.
    globals_ = [_normalize(g1), _normalize(g2)]
    received = []

    def gather_fn(z):
        received.append(ops.convert_to_numpy(z))
        return ops.convert_to_tensor(globals_[len(received) - 1].astype("float32")), 3

    value = losses.nt_xent(local1, local2, 0.5, gather_fn=gather_fn)
    assert len(received) == 2
    assert_allclose(received[0], globals_[0][3:], atol=1e-6)
    assert_allclose(received[1], globals_[1][3:], atol=1e-6)
    z = _normalize(np.concatenate([g1, g2]).astype(np.float64))
    terms = []
    for i in [3, 4, 5, 9, 10, 11]:
        positive = (i + 6) % 12
        logits = z[i] @ z.T / 0.5
        logits[i] = -np.inf
        terms.append(-(logits[positive] - np.log(np.exp(logits).sum())))
    assert_allclose(value, np.mean(terms), atol=1e-4)


def test_byol_loss_matches_hand_computation():
    rng = np.random.default_rng(4)
    p = rng.normal(size=(6, 5)).astype("float32")
    z = rng.normal(size=(6, 5)).astype("float32")
    cos = np.sum(_normalize(p) * _normalize(z), axis=-1)
    assert_allclose(losses.byol_loss(p, z), np.mean(2 - 2 * cos), atol=1e-5)
    assert_allclose(losses.byol_loss(p, 2 * p), 0.0, atol=1e-5)


def test_simsiam_loss_matches_hand_computation():
    rng = np.random.default_rng(5)
    p = rng.normal(size=(6, 5)).astype("float32")
    z = rng.normal(size=(6, 5)).astype("float32")
    cos = np.sum(_normalize(p) * _normalize(z), axis=-1)
    assert_allclose(losses.simsiam_loss(p, z), -np.mean(cos), atol=1e-6)
    assert_allclose(losses.simsiam_loss(p, -p), 1.0, atol=1e-6)


def test_mask_coverage_and_sparsity_penalty_match_hand_computation():
    rng = np.random.default_rng(6)
    masks = rng.uniform(size=(3, 4, 4, 2)).astype("float32")
    coverage = masks.mean(axis=(1, 2))
    assert_allclose(losses.mask_coverage(masks), coverage, atol=1e-6)
    expected = np.sum(np.mean(1.0 / (np.sin(np.pi * coverage) + 1e-10), axis=0))
    assert_allclose(losses.sparsity_penalty(masks), expected, rtol=1e-5)


def test_sparsity_penalty_is_one_per_mask_at_half_coverage_and_huge_when_empty():
    half = np.zeros((2, 4, 4, 2), "float32")
    half[:, :2, :, 0] = 1.0
    half[:, 2:, :, 1] = 1.0
    assert_allclose(losses.sparsity_penalty(half), 2.0, atol=1e-5)
    empty = np.zeros((2, 4, 4, 1), "float32")
    assert float(losses.sparsity_penalty(empty)) > 1e9


def test_coverage_negative_entropy_matches_hand_computation():
    coverage = np.array([[0.1, 0.9], [0.5, 0.5], [0.2, 0.3]], "float32")
    s = np.exp(coverage) / np.exp(coverage).sum(axis=1, keepdims=True)
    expected = np.sum(s * np.log(s))
    assert_allclose(losses.coverage_negative_entropy(coverage), expected, atol=1e-6)


def test_masked_view_occludes_where_mask_is_one():
    images = np.ones((1, 2, 2, 3), "float32") * 2.0
    mask = np.array([[[1.0, 0.0], [0.25, 0.0]]], "float32")
    out = ops.convert_to_numpy(losses.masked_view(images, mask))
    assert_allclose(out[0, :, :, 0], [[0.0, 2.0], [1.5, 2.0]])
    assert out.shape == images.shape


def test_cosine_losses_have_finite_gradients_for_an_all_zero_row():
    # A predictor row that a dead ReLU layer zeroes must not make the step NaN.
    from harness import input_gradient

    p = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    p[1] = 0.0
    z = np.ones((3, 4), "float32")
    for loss in (lambda t: losses.simsiam_loss(t, z), lambda t: losses.byol_loss(t, z),
                 lambda t: losses.nt_xent(t, z, 0.5)):
        value, grads = input_gradient(loss, p)
        assert np.isfinite(value) and np.all(np.isfinite(grads))
