import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_adios.callbacks import KNNMonitor
from keras_adios.evaluation import extract_features
from keras_adios.evaluation import knn_accuracy


def _values(model):
    return [
        keras.ops.convert_to_numpy(keras.ops.copy(v)) for v in model.variables
    ]


def test_logs_val_knn_accuracy_every_epoch(make_model, toy_data, capsys):
    (x, y), (xv, yv) = toy_data
    model = make_model()
    monitor = KNNMonitor((x, y), (xv, yv), k=5, batch_size=8)
    history = model.fit(
        x, y, batch_size=8, epochs=2, verbose=2, callbacks=[monitor]
    )
    values = history.history["val_knn_accuracy"]
    assert len(values) == 2
    # It is shown by the progress bar logger.
    assert "val_knn_accuracy" in capsys.readouterr().out
    # The last value is the kNN accuracy of the final encoder's features.
    train_f, _ = extract_features(model.encoder, x)
    val_f, _ = extract_features(model.encoder, xv)
    expected = knn_accuracy(train_f, y, val_f, yv, k=5, temperature=0.07)
    assert values[-1] == pytest.approx(expected)
    assert monitor.last_accuracy == values[-1]
    # Classes differ by colour: the encoder's features separate them.
    assert values[-1] >= 0.9


def test_every_n_epochs_and_datasets(make_model, toy_data):
    (x, y), (xv, yv) = toy_data
    model = make_model()
    monitor = KNNMonitor(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(5),
        tf.data.Dataset.from_tensor_slices((xv, yv)).batch(5),
        k=3,
        every_n_epochs=2,
        distance="euclidean",
    )
    history = model.fit(
        x, y, batch_size=8, epochs=3, verbose=0, callbacks=[monitor]
    )
    assert len(history.history["val_knn_accuracy"]) == 1  # epoch 2 only
    assert len(history.history["loss"]) == 3
    assert 0.0 <= history.history["val_knn_accuracy"][0] <= 1.0


def test_evaluation_leaves_the_encoder_unchanged(make_model, toy_data):
    (x, y), (xv, yv) = toy_data
    model = make_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    monitor = KNNMonitor((x, y), (xv, yv), k=3)
    monitor.set_model(model)
    before = _values(model)
    accuracy = monitor.evaluate()
    for b, a in zip(before, _values(model)):
        np.testing.assert_array_equal(a, b)
    assert 0.0 <= accuracy <= 1.0


def test_explicit_encoder_and_missing_encoder(toy_data):
    (x, y), (xv, yv) = toy_data
    plain = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="encoder"):
        plain.fit(
            x, y, epochs=1, verbose=0, callbacks=[KNNMonitor((x, y), (xv, yv))]
        )
    # With `encoder=`, any model can be monitored.
    pooling = keras.Sequential(
        [keras.Input(x.shape[1:]), keras.layers.GlobalAveragePooling2D()]
    )
    history = plain.fit(
        x,
        y,
        epochs=1,
        verbose=0,
        callbacks=[KNNMonitor((x, y), (xv, yv), k=3, encoder=pooling)],
    )
    expected = knn_accuracy(
        x.mean(axis=(1, 2)), y, xv.mean(axis=(1, 2)), yv, k=3
    )
    assert history.history["val_knn_accuracy"][0] == pytest.approx(expected)


def test_unlabelled_data_config_and_invalid_arguments(make_model, toy_data):
    (x, y), (xv, yv) = toy_data
    model = make_model()
    monitor = KNNMonitor(x, (xv, yv))
    monitor.set_model(model)
    with pytest.raises(ValueError, match="labels"):
        monitor.evaluate()
    config = KNNMonitor((x, y), (xv, yv), k=7, every_n_epochs=3).get_config()
    json.dumps(config)
    assert config["k"] == 7 and config["every_n_epochs"] == 3
    for kwargs in (
        {"k": 0},
        {"every_n_epochs": 0},
        {"distance": "l1"},
        {"temperature": 0},
    ):
        with pytest.raises(ValueError, match="Received"):
            KNNMonitor((x, y), (xv, yv), **kwargs)
    with pytest.raises(ValueError, match="Received"):
        KNNMonitor((x, y), None)


def test_probe_epochs_logs_the_linear_probe_accuracy(make_model, toy_data):
    from keras_adios.evaluation import linear_probe

    (x, y), (xv, yv) = toy_data
    model = make_model()
    monitor = KNNMonitor((x, y), (xv, yv), k=5, batch_size=8, probe_epochs=3)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[monitor]).history
    assert len(history["val_linear_probe_accuracy"]) == 2
    train_f, _ = extract_features(model.encoder, x)
    val_f, _ = extract_features(model.encoder, xv)
    expected = linear_probe(train_f, y, val_f, yv, epochs=3)["test_accuracy"]
    assert history["val_linear_probe_accuracy"][-1] == pytest.approx(float(expected))
    assert monitor.last_probe_accuracy == history["val_linear_probe_accuracy"][-1]


def test_without_probe_epochs_no_probe_is_logged(make_model, toy_data):
    (x, y), (xv, yv) = toy_data
    history = make_model().fit(
        x, y, batch_size=8, epochs=1, verbose=0, callbacks=[KNNMonitor((x, y), (xv, yv), k=3, batch_size=8)]
    ).history
    assert "val_linear_probe_accuracy" not in history
