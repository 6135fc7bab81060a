"""Objective construction, validation and serialization."""

import keras
import pytest

import keras_adios
from harness import run_objective_contract_test
from harness import run_serialization_test


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (keras_adios.objectives.SimCLR, {"temperature": 0.3, "projection_dim": 16, "hidden_dim": 32, "cross_replica_negatives": False}),
        (keras_adios.objectives.BYOL, {"projection_dim": 8, "hidden_dim": 16, "predictor_hidden_dim": 16, "base_momentum": 0.9, "total_steps": 5}),
        (keras_adios.objectives.SimSiam, {"projection_dim": 8, "hidden_dim": 16, "predictor_hidden_dim": 4, "use_no_mask": False}),
    ],
)
def test_get_config_covers_every_argument(cls, kwargs):
    revived = run_serialization_test(cls(**kwargs))
    config = revived.get_config()
    for key, value in kwargs.items():
        assert config[key] == value, key


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (keras_adios.objectives.SimCLR, {"temperature": 0.0}, "temperature"),
        (keras_adios.objectives.SimCLR, {"hidden_dim": 0}, "hidden_dim"),
        (keras_adios.objectives.BYOL, {"projection_dim": 2.5}, "projection_dim"),
        (keras_adios.objectives.BYOL, {"base_momentum": 1.5}, "base_momentum"),
        (keras_adios.objectives.BYOL, {"total_steps": 0}, "total_steps"),
        (keras_adios.objectives.SimSiam, {"predictor_hidden_dim": -1}, "predictor_hidden_dim"),
    ],
)
def test_invalid_arguments_name_what_was_received(cls, kwargs, match):
    with pytest.raises(ValueError, match=f"{match}.*Received"):
        cls(**kwargs)


def test_get_accepts_names_and_instances():
    assert isinstance(keras_adios.objectives.get("BYOL"), keras_adios.objectives.BYOL)
    simsiam = keras_adios.objectives.SimSiam()
    assert keras_adios.objectives.get(simsiam) is simsiam
    with pytest.raises(ValueError, match="Received: objective='moco'"):
        keras_adios.objectives.get("moco")


def test_simsiam_projector_ends_in_a_non_affine_batch_norm():
    objective = keras_adios.objectives.SimSiam(projection_dim=8, hidden_dim=16, predictor_hidden_dim=4)
    objective.build((None, 4))
    last = objective.projector.layers[-1]
    assert isinstance(last, keras.layers.BatchNormalization)
    assert not last.center and not last.scale
    assert not objective.projector.layers[-2].use_bias


@pytest.mark.parametrize(
    "make_objective",
    [
        lambda: keras_adios.objectives.SimCLR(temperature=0.5, projection_dim=8, hidden_dim=16),
        lambda: keras_adios.objectives.BYOL(projection_dim=8, hidden_dim=16, predictor_hidden_dim=16, total_steps=4),
        lambda: keras_adios.objectives.SimSiam(projection_dim=8, hidden_dim=16, predictor_hidden_dim=4),
    ],
    ids=["simclr", "byol", "simsiam"],
)
def test_objective_contract(make_objective):
    run_objective_contract_test(make_objective)
