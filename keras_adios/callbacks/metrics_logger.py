"""Callback writing the training history to JSON and CSV after every epoch."""

import csv
import json
import math
import os

import keras
import numpy as np


class MetricsLogger(keras.callbacks.Callback):
    """Writes the full history so far to `metrics.json` and `metrics.csv`.

    After every epoch, `output_dir/metrics.json` is rewritten with a list of
    dicts, one per epoch, `{"epoch": 1, "loss": ..., "val_knn_accuracy":
    ..., ...}` (epochs numbered from 1, as in the progress bar), and
    `output_dir/metrics.csv` with one row per epoch and one column per key.
    Backend scalars (tensors, NumPy numbers) are converted to Python floats.

    Keys may appear on some epochs only (e.g. `val_knn_accuracy` with
    `KNNMonitor(every_n_epochs=5)`): the CSV has the union of all keys as
    columns (in order of first appearance) with empty cells where an epoch
    has no value, and the JSON records simply omit the key. Non-finite
    values are written as `null` in JSON (strict JSON) and as `nan`/`inf`
    in CSV. Values added to the logs by callbacks that run *after* this one
    are picked up when the next epoch begins and at the end of training.
    Files are replaced atomically, so a crash never leaves half a file.

    Args:
        output_dir: str. Directory of the two files (created if needed).
        append: bool. If True and `metrics.json` exists, continue it (e.g.
            when resuming with `initial_epoch`); records of epochs that are
            run again are replaced. If False, start from scratch.
        json_filename: str. Name of the JSON file.
        csv_filename: str. Name of the CSV file.

    Example:

    >>> import keras, numpy as np, tempfile, json, os
    >>> from keras_adios.callbacks import MetricsLogger
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> out = tempfile.mkdtemp()
    >>> _ = model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=2,
    ...               verbose=0, callbacks=[MetricsLogger(out)])
    >>> [r["epoch"] for r in json.load(open(os.path.join(out, "metrics.json")))]
    [1, 2]
    """

    def __init__(
        self,
        output_dir,
        append=False,
        json_filename="metrics.json",
        csv_filename="metrics.csv",
    ):
        super().__init__()
        if not output_dir:
            raise ValueError(
                "`output_dir` must be a path. Received: "
                f"output_dir={output_dir!r}"
            )
        for name, value in (
            ("json_filename", json_filename),
            ("csv_filename", csv_filename),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"`{name}` must be a non-empty file name. Received: "
                    f"{name}={value!r}"
                )
        self.output_dir = os.fspath(output_dir)
        self.append = bool(append)
        self.json_filename = json_filename
        self.csv_filename = csv_filename
        self.records = []
        self._loaded = False
        self._pending = None  # (index in records, the live logs dict)

    @property
    def json_path(self):
        return os.path.join(self.output_dir, self.json_filename)

    @property
    def csv_path(self):
        return os.path.join(self.output_dir, self.csv_filename)

    def on_train_begin(self, logs=None):
        os.makedirs(self.output_dir, exist_ok=True)
        if not self._loaded:
            self._loaded = True
            if self.append and os.path.exists(self.json_path):
                with open(self.json_path) as f:
                    self.records = [dict(r) for r in json.load(f)]

    def on_epoch_begin(self, epoch, logs=None):
        if self._refresh_pending():
            self._write()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": int(epoch) + 1}
        record.update(_convert_logs(logs))
        # A re-run epoch (resume) replaces its old record and any later ones.
        self.records = [r for r in self.records if r["epoch"] < record["epoch"]]
        self.records.append(record)
        self._pending = (len(self.records) - 1, logs)
        self._write()

    def on_train_end(self, logs=None):
        self._refresh_pending()
        self._pending = None
        if self.records:
            self._write()

    def _refresh_pending(self):
        """Adds values other callbacks put in the last epoch's logs since."""
        if self._pending is None:
            return False
        index, live_logs = self._pending
        if live_logs is None or index >= len(self.records):
            return False
        record = self.records[index]
        updated = dict(record)
        updated.update(_convert_logs(live_logs))
        if updated == record:
            return False
        self.records[index] = updated
        return True

    def _write(self):
        os.makedirs(self.output_dir, exist_ok=True)
        json_records = [
            {k: _json_value(v) for k, v in record.items()}
            for record in self.records
        ]
        _atomic_write(
            self.json_path,
            lambda f: json.dump(json_records, f, indent=2, allow_nan=False),
        )
        columns = []
        for record in self.records:
            for key in record:
                if key not in columns:
                    columns.append(key)

        def write_csv(f):
            writer = csv.writer(f)
            writer.writerow(columns)
            for record in self.records:
                writer.writerow([_csv_value(record.get(c)) for c in columns])

        _atomic_write(self.csv_path, write_csv, newline="")

    def get_config(self):
        return {
            "output_dir": self.output_dir,
            "append": self.append,
            "json_filename": self.json_filename,
            "csv_filename": self.csv_filename,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _convert_logs(logs):
    converted = {}
    for key, value in (logs or {}).items():
        if key == "epoch":
            continue
        converted[str(key)] = _to_python(value)
    return converted


def _to_python(value):
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    try:
        array = np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:
        try:
            array = np.asarray(value)
        except Exception:
            return str(value)
    if array.dtype.kind in "biuf":
        if array.size == 1:
            return float(array.reshape(()))
        return array.astype(float).tolist()
    return str(value)


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return value


def _atomic_write(path, write_fn, newline=None):
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline=newline) as f:
        write_fn(f)
    os.replace(tmp, path)
