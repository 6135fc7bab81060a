import csv
import json

import keras
import numpy as np
import pytest

from keras_adios.callbacks import KNNMonitor
from keras_adios.callbacks import MetricsLogger


def _strict_json(path):
    def reject(token):
        raise AssertionError(f"non-standard JSON token {token}")

    with open(path) as f:
        return json.load(f, parse_constant=reject)


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_every_epoch_and_late_keys(make_model, toy_data, tmp_path):
    (x, y), (xv, yv) = toy_data
    model = make_model()
    # The logger runs *before* the kNN monitor: keys the monitor adds are
    # picked up at the next epoch begin / train end.
    callbacks = [
        MetricsLogger(tmp_path),
        KNNMonitor((x, y), (xv, yv), k=3, every_n_epochs=2),
    ]
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        validation_data=(xv, yv),
        verbose=0,
        callbacks=callbacks,
    )
    records = _strict_json(tmp_path / "metrics.json")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    for i, record in enumerate(records):
        assert record["loss"] == pytest.approx(history.history["loss"][i])
        assert record["val_loss"] == pytest.approx(
            history.history["val_loss"][i]
        )
        assert isinstance(record["loss"], float)
    assert "val_knn_accuracy" not in records[0]
    assert records[1]["val_knn_accuracy"] == pytest.approx(
        history.history["val_knn_accuracy"][0]
    )
    assert "val_knn_accuracy" not in records[2]

    rows = _csv(tmp_path / "metrics.csv")
    assert list(rows[0]) == ["epoch", "loss", "val_loss", "val_knn_accuracy"]
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["val_knn_accuracy"] == ""
    assert rows[2]["val_knn_accuracy"] == ""
    assert float(rows[1]["val_knn_accuracy"]) == records[1]["val_knn_accuracy"]
    assert float(rows[2]["loss"]) == records[2]["loss"]


class _ReadFile(keras.callbacks.Callback):
    """Reads metrics.json at the end of every epoch (after the logger)."""

    def __init__(self, path):
        super().__init__()
        self.path, self.seen = path, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(_strict_json(self.path))


def test_files_are_written_during_training(make_model, toy_data, tmp_path):
    (x, y), (xv, yv) = toy_data
    model = make_model()
    reader = _ReadFile(tmp_path / "metrics.json")
    callbacks = [
        KNNMonitor((x, y), (xv, yv), k=3),
        MetricsLogger(tmp_path),
        reader,
    ]
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    assert [len(records) for records in reader.seen] == [1, 2]
    # After the monitor, the kNN value is in the file at once.
    assert "val_knn_accuracy" in reader.seen[0][0]


class _AddLogs(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs["tensor_metric"] = keras.ops.convert_to_tensor(2.5)
        logs["numpy_metric"] = np.float32(1.5)
        logs["int_metric"] = np.int64(3)
        logs["nan_metric"] = float("nan")
        logs["note"] = "text"


def test_backend_scalars_and_non_finite_values(make_model, toy_data, tmp_path):
    (x, y), _ = toy_data
    model = make_model()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[_AddLogs(), MetricsLogger(tmp_path)],
    )
    record = _strict_json(tmp_path / "metrics.json")[0]
    assert record["tensor_metric"] == 2.5
    assert isinstance(record["tensor_metric"], float)
    assert record["numpy_metric"] == 1.5
    assert record["int_metric"] == 3.0
    assert record["nan_metric"] is None
    assert record["note"] == "text"
    row = _csv(tmp_path / "metrics.csv")[0]
    assert row["nan_metric"] == "nan" and row["tensor_metric"] == "2.5"


def test_append_resumes_and_overwrite_restarts(make_model, toy_data, tmp_path):
    (x, y), _ = toy_data
    model = make_model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[MetricsLogger(tmp_path)])
    model.fit(
        x,
        y,
        initial_epoch=1,  # re-runs epoch 2, then epoch 3
        epochs=3,
        verbose=0,
        callbacks=[MetricsLogger(tmp_path, append=True)],
    )
    records = _strict_json(tmp_path / "metrics.json")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert len(_csv(tmp_path / "metrics.csv")) == 3

    model.fit(
        x,
        y,
        initial_epoch=3,
        epochs=4,
        verbose=0,
        callbacks=[MetricsLogger(tmp_path)],
    )
    assert [r["epoch"] for r in _strict_json(tmp_path / "metrics.json")] == [4]


def test_config_round_trip_and_invalid_arguments(tmp_path):
    logger = MetricsLogger(tmp_path, append=True, csv_filename="h.csv")
    config = logger.get_config()
    json.dumps(config)
    assert MetricsLogger.from_config(config).get_config() == config
    assert logger.csv_path.endswith("h.csv")
    with pytest.raises(ValueError, match="Received"):
        MetricsLogger("")
    with pytest.raises(ValueError, match="Received"):
        MetricsLogger(tmp_path, json_filename="")
