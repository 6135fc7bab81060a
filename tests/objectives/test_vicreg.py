"""VICReg: the loss against a NumPy computation, the objective contract, 2 replicas."""

import keras
import numpy as np
import pytest

import keras_adios
from harness import assert_allclose
from harness import run_objective_contract_test
from harness import run_serialization_test
from keras_adios.objectives import Embedding
from keras_adios.objectives.vicreg import vicreg_loss


def _numpy_vicreg(z1, z2, lam=25.0, mu=25.0, nu=1.0, eps=1e-4):
    """Written after the VICReg authors' PyTorch reference, loop by loop."""
    n, d = z1.shape
    invariance = np.mean((z1 - z2) ** 2)
    variance = covariance = 0.0
    for z in (z1, z2):
        std = np.sqrt(z.var(axis=0, ddof=1) + eps)
        variance += np.mean(np.maximum(0.0, 1.0 - std)) / 2
        c = (z - z.mean(0)).T @ (z - z.mean(0)) / (n - 1)
        covariance += sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j) / d
    return lam * invariance + mu * variance + nu * covariance


@pytest.mark.parametrize("weights", [(25.0, 25.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)])
def test_loss_matches_numpy(weights):
    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(12, 5)).astype("float32") * 0.7
    z2 = (z1 + 0.3 * rng.normal(size=(12, 5))).astype("float32")
    expected = _numpy_vicreg(z1.astype("float64"), z2.astype("float64"), *weights)
    assert_allclose(vicreg_loss(z1, z2, *weights), expected, rtol=1e-5, atol=1e-5)


def test_loss_terms_behave():
    # Equal views with unit-variance, decorrelated dimensions: every term ~0.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4))
    q, _ = np.linalg.qr(x - x.mean(0))  # centred, orthonormal columns
    z = q * np.sqrt(63.0) * 1.5  # std 1.5 > 1, covariance diagonal
    assert float(vicreg_loss(z.astype("float32"), z.astype("float32"))) == pytest.approx(0.0, abs=1e-3)
    # Collapsed embeddings pay the variance hinge: 25 * (1/2 + 1/2) * (1 - sqrt(eps)).
    collapsed = np.ones((8, 4), "float32")
    assert float(vicreg_loss(collapsed, collapsed)) == pytest.approx(25 * (1 - 1e-2), rel=1e-5)


def test_gather_fn_is_used_for_every_term():
    rng = np.random.default_rng(2)
    z1, z2 = (rng.normal(size=(6, 3)).astype("float32") for _ in range(2))
    other1, other2 = (rng.normal(size=(6, 3)).astype("float32") for _ in range(2))
    # A fake "other replica": the gather appends its rows (z1 first, then z2).
    others = [other1, other2]
    gathered = vicreg_loss(z1, z2, gather_fn=lambda z: (keras.ops.concatenate([z, others.pop(0)]), 0))
    expected = _numpy_vicreg(np.concatenate([z1, other1]).astype("float64"),
                             np.concatenate([z2, other2]).astype("float64"))
    assert_allclose(gathered, expected, rtol=1e-5, atol=1e-5)


def test_objective_loss_is_vicreg_of_the_projections():
    objective = keras_adios.objectives.VICReg(projection_dim=6, hidden_dim=8, variance_weight=10.0)
    z1, z2 = keras.random.normal((8, 6), seed=1), keras.random.normal((8, 6), seed=2)
    value = objective.loss(Embedding(None, z1), None, None, Embedding(None, z2))
    assert_allclose(value, vicreg_loss(z1, z2, 25.0, 10.0, 1.0), rtol=1e-6)


def test_config_and_validation():
    kwargs = {"projection_dim": 8, "hidden_dim": 16, "invariance_weight": 5.0, "variance_weight": 4.0,
              "covariance_weight": 0.5, "cross_replica_statistics": False}
    config = run_serialization_test(keras_adios.objectives.VICReg(**kwargs)).get_config()
    assert {k: config[k] for k in kwargs} == kwargs
    with pytest.raises(ValueError, match=r"variance_weight.*Received: variance_weight=-1"):
        keras_adios.objectives.VICReg(variance_weight=-1)
    assert isinstance(keras_adios.objectives.get("vicreg"), keras_adios.objectives.VICReg)


def test_objective_contract():
    run_objective_contract_test(lambda: keras_adios.objectives.VICReg(projection_dim=8, hidden_dim=16))
