"""Callback reporting weighted-kNN accuracy of the encoder during training."""

import keras

from keras_adios.utils.validation import check_positive_int
from keras_adios.evaluation.feature_extraction import extract_features
from keras_adios.evaluation.knn import DISTANCES
from keras_adios.evaluation.knn import knn_accuracy
from keras_adios.evaluation.linear_probe import linear_probe


class KNNMonitor(keras.callbacks.Callback):
    """Logs the weighted kNN accuracy of the frozen encoder every n epochs.

    At the end of every `every_n_epochs`-th epoch, features of `train_data`
    and `val_data` are extracted with `self.model.encoder` in inference mode
    (`training=False`: BatchNorm moving statistics are neither used in
    batch mode nor updated) and the val set is classified with solo-learn's
    weighted kNN (`keras_adios.evaluation.knn_accuracy`, cosine similarity,
    weights `exp(sim / temperature)`). The accuracy is written to
    `logs["val_knn_accuracy"]`, so it appears in the progress bar, in
    `History` and in `CSVLogger`/`MetricsLogger` files (place those after
    this callback in the list to see it in the same epoch). On the other
    epochs the key is absent.

    With `probe_epochs` set, a linear probe (`keras_adios.evaluation.
    linear_probe`, standardised features, Adam, `probe_epochs` epochs) is
    also trained on the same `train_data` features and its `val_data`
    accuracy logged as `logs["val_linear_probe_accuracy"]`: accuracy vs
    training steps for both protocols at the cost of one feature pass.

    Features are recomputed for the whole `train_data` each time, so pass a
    subset (e.g. 10k images) when the train set is large.

    Args:
        train_data: labelled memory bank: `(images, labels)` arrays or a
            batched `tf.data.Dataset` of `(images, labels)`.
        val_data: labelled query set, same forms.
        k: int. Number of neighbours (solo-learn default 20).
        temperature: float. Temperature of the weights (default 0.07).
        every_n_epochs: int. Evaluate after every n-th epoch.
        batch_size: int. Batch size of feature extraction for arrays.
        distance: `"cosine"` (default) or `"euclidean"`.
        encoder: a model to use instead of `self.model.encoder`, or None.
        log_key: str. Name of the logged value.
        probe_epochs: optional int. Also train and log a linear probe with
            this many epochs (`None`, the default: kNN only).
        probe_log_key: str. Name of the logged probe accuracy.

    Example:

    >>> import keras, numpy as np
    >>> from keras_adios.callbacks import KNNMonitor
    >>> class TinySSL(keras.Model):  # any model with an `.encoder`
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.encoder = keras.layers.GlobalAveragePooling2D()
    ...         self.head = keras.layers.Dense(2, activation="softmax")
    ...     def call(self, x):
    ...         return self.head(self.encoder(x))
    >>> x = np.random.rand(32, 8, 8, 3).astype("float32")
    >>> y = np.arange(32) % 2
    >>> model = TinySSL()
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> monitor = KNNMonitor((x[:16], y[:16]), (x[16:], y[16:]), k=5)
    >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    >>> len(history.history["val_knn_accuracy"])
    2
    """

    def __init__(
        self,
        train_data,
        val_data,
        k=20,
        temperature=0.07,
        every_n_epochs=1,
        batch_size=256,
        distance="cosine",
        encoder=None,
        log_key="val_knn_accuracy",
        probe_epochs=None,
        probe_log_key="val_linear_probe_accuracy",
    ):
        super().__init__()
        if train_data is None or val_data is None:
            raise ValueError(
                "`train_data` and `val_data` must both be labelled data, e.g. "
                "(images, labels). Received: "
                f"train_data is None={train_data is None}, "
                f"val_data is None={val_data is None}"
            )
        if distance not in DISTANCES:
            raise ValueError(
                f"`distance` must be one of {DISTANCES}. Received: "
                f"distance={distance!r}"
            )
        if not temperature > 0:
            raise ValueError(
                "`temperature` must be > 0. Received: "
                f"temperature={temperature}"
            )
        if not isinstance(log_key, str) or not log_key:
            raise ValueError(
                f"`log_key` must be a non-empty string. Received: {log_key!r}"
            )
        self.train_data = train_data
        self.val_data = val_data
        self.k = check_positive_int(k, "k")
        self.temperature = float(temperature)
        self.every_n_epochs = check_positive_int(
            every_n_epochs, "every_n_epochs"
        )
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.distance = distance
        self.encoder = encoder
        self.log_key = log_key
        self.probe_epochs = (
            None if probe_epochs is None else check_positive_int(probe_epochs, "probe_epochs")
        )
        self.probe_log_key = probe_log_key
        self.last_accuracy = None
        self.last_probe_accuracy = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs != 0:
            return
        accuracy = self.evaluate()
        if logs is not None:
            logs[self.log_key] = accuracy
            if self.probe_epochs is not None:
                logs[self.probe_log_key] = self.last_probe_accuracy

    def evaluate(self):
        """Computes the kNN accuracy with the current encoder weights now.

        With `probe_epochs` set, also trains the linear probe and stores its
        accuracy in `last_probe_accuracy`.

        Returns:
            The kNN accuracy, a Python float in [0, 1].
        """
        encoder = self.encoder
        if encoder is None:
            encoder = getattr(self.model, "encoder", None)
        if encoder is None:
            raise ValueError(
                "KNNMonitor needs an encoder: the model must have an "
                "`.encoder` attribute, or pass `encoder=`. Received a model "
                f"of type {type(self.model).__name__} without one"
            )
        train_x, train_y = extract_features(
            encoder, self.train_data, batch_size=self.batch_size
        )
        val_x, val_y = extract_features(
            encoder, self.val_data, batch_size=self.batch_size
        )
        if train_y is None or val_y is None:
            raise ValueError(
                "KNNMonitor needs labels: pass `train_data` and `val_data` as "
                "(images, labels). Received data without labels"
            )
        self.last_accuracy = knn_accuracy(
            train_x.reshape(train_x.shape[0], -1),
            train_y,
            val_x.reshape(val_x.shape[0], -1),
            val_y,
            k=self.k,
            temperature=self.temperature,
            distance=self.distance,
        )
        if self.probe_epochs is not None:
            self.last_probe_accuracy = float(
                linear_probe(
                    train_x.reshape(train_x.shape[0], -1),
                    train_y,
                    val_x.reshape(val_x.shape[0], -1),
                    val_y,
                    epochs=self.probe_epochs,
                )["test_accuracy"]
            )
        return self.last_accuracy

    def get_config(self):
        """Hyperparameters (the data and the encoder are not included)."""
        return {
            "k": self.k,
            "temperature": self.temperature,
            "every_n_epochs": self.every_n_epochs,
            "batch_size": self.batch_size,
            "distance": self.distance,
            "log_key": self.log_key,
            "probe_epochs": self.probe_epochs,
            "probe_log_key": self.probe_log_key,
        }
