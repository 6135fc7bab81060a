"""In-process behaviour of `keras_adios.distribute` outside a strategy."""

import json

import keras
import numpy as np
import pytest

import keras_adios
from keras_adios import distribute
from keras_adios import losses


def test_hooks_are_identities_outside_a_strategy():
    z = keras.random.normal((4, 3), seed=0)
    assert distribute.num_replicas_in_sync() == 1
    assert distribute.replica_id() == 0
    loss = keras.ops.convert_to_tensor(2.5)
    assert float(distribute.scale_loss_for_gradients(loss)) == 2.5
    gathered, offset = distribute.cross_replica_gather(z)
    assert gathered is z and offset == 0
    value = keras.ops.convert_to_tensor([0.25, 0.5])
    assert distribute.cross_replica_mean(value, 4) is value
    generator = keras.random.SeedGenerator(1)
    assert distribute.replica.replica_seed(generator) is generator


def test_nt_xent_with_the_gather_fn_equals_plain_nt_xent():
    z1 = keras.random.normal((6, 5), seed=1)
    z2 = keras.random.normal((6, 5), seed=2)
    plain = losses.nt_xent(z1, z2, 0.3)
    gathered = losses.nt_xent(z1, z2, 0.3, gather_fn=distribute.cross_replica_gather)
    np.testing.assert_allclose(np.asarray(plain), np.asarray(gathered), rtol=1e-6)


def test_simclr_outside_a_replica_context_uses_the_local_batch():
    # `cross_replica_gather` is the identity without a strategy, so the
    # objective's loss is the plain NT-Xent of its projections.
    from keras_adios.objectives import Embedding

    objective = keras_adios.objectives.SimCLR(temperature=0.3, hidden_dim=8, projection_dim=4)
    z1 = keras.random.normal((6, 4), seed=1)
    z2 = keras.random.normal((6, 4), seed=2)
    value = objective.loss(Embedding(None, z1), None, None, Embedding(None, z2))
    np.testing.assert_allclose(np.asarray(value), np.asarray(losses.nt_xent(z1, z2, 0.3)), rtol=1e-6)


@pytest.mark.parametrize(
    "config, chief",
    [
        (None, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
        ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
    ],
)
def test_is_chief(monkeypatch, config, chief):
    if config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distribute.is_chief() is chief


def test_sync_batchnorm_and_get_strategy_by_backend(backend):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4), keras.layers.BatchNormalization()]
    )
    if backend == "tensorflow":
        assert distribute.use_sync_batchnorm(model) == 1
        assert model.layers[-1].synchronized is True
        assert model.layers[-1].get_config()["synchronized"] is True
        import tensorflow as tf

        # No TPU and no GPU on this machine: the default strategy.
        strategy = distribute.get_strategy(verbose=False)
        assert strategy is tf.distribute.get_strategy()
        assert strategy.num_replicas_in_sync == 1
    elif backend == "torch":
        # Keras' own layer cannot synchronise on PyTorch: refused, naming it.
        with pytest.raises(ValueError, match=r"keras_adios.layers.BatchNormalization.*batch_normalization"):
            distribute.use_sync_batchnorm(model)
        ours = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(4), keras_adios.layers.BatchNormalization()]
        )
        assert distribute.use_sync_batchnorm(ours) == 1
        assert ours.layers[-1].get_config()["synchronized"] is True
        # Outside a process group the synchronised layer is the plain one.
        x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
        plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
        plain.set_weights(ours.get_weights())
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours(x, training=True)), keras.ops.convert_to_numpy(plain(x, training=True)),
            atol=1e-5,
        )
        with pytest.raises(ValueError, match="TensorFlow backend"):
            distribute.get_strategy()
    else:
        with pytest.raises(ValueError, match="JAX.*DataParallel"):
            distribute.use_sync_batchnorm(model)
        with pytest.raises(ValueError, match="TensorFlow backend"):
            distribute.get_strategy()
