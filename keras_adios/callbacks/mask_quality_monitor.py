"""Callback logging how committed the masks are and how well they fit the objects."""

import keras

from keras_adios.utils.validation import check_positive_int
from keras_adios.evaluation.mask_metrics import evaluate_masks


class MaskQualityMonitor(keras.callbacks.Callback):
    """Logs mask confidence (and IoU/ARI against ground truth) every n epochs.

    At the end of every `every_n_epochs`-th epoch the model's masker runs on a
    fixed set of images in inference mode, and
    `keras_adios.evaluation.evaluate_masks` scores the masks. The results go
    into the epoch's `logs` as `mask_confidence` (the mean over pixels of the
    largest of the N masks: `1 / N` for masks shared equally at every pixel,
    1 for hard masks), and, when the ground truth is given,
    `mask_foreground_iou`, `mask_foreground_ari` and `mask_parts_ari`. They
    then appear in `History` and in `MetricsLogger` files placed after this
    callback, so they can be plotted over training.

    A model without a masker (`model.masker` missing or None) logs nothing.

    Args:
        images: array `(B, H, W, C)` of normalised images, as fed to the model.
        foreground: optional array `(B, H, W)` of ground-truth foreground masks.
        parts: optional int array `(B, H, W)` of ground-truth part ids.
        every_n_epochs: int. Evaluate after every n-th epoch.
        batch_size: int. Images per masker call.

    Example:

    >>> import keras, numpy as np
    >>> from keras_adios.callbacks import MaskQualityMonitor
    >>> class TinyADIOS(keras.Model):  # any model with a `.masker`
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.masker = keras.layers.Conv2D(2, 1, activation="softmax")
    ...     def call(self, x):
    ...         return self.masker(x)
    >>> x = np.random.rand(8, 4, 4, 3).astype("float32")
    >>> model = TinyADIOS()
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> monitor = MaskQualityMonitor(x, foreground=x[..., 0] > 0.5)
    >>> history = model.fit(x, np.zeros((8, 4, 4, 2)), epochs=1, verbose=0,
    ...                     callbacks=[monitor])
    >>> 0.5 <= history.history["mask_confidence"][0] <= 1.0
    True
    """

    def __init__(self, images, foreground=None, parts=None, every_n_epochs=1, batch_size=64):
        super().__init__()
        if getattr(images, "ndim", None) != 4:
            raise ValueError(
                "`images` must be an array (B, H, W, C). Received: "
                f"{type(images).__name__} with shape {getattr(images, 'shape', None)}"
            )
        self.images = images
        self.foreground = foreground
        self.parts = parts
        self.every_n_epochs = check_positive_int(every_n_epochs, "every_n_epochs")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.last_scores = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs != 0:
            return
        masker = getattr(self.model, "masker", None)
        if masker is None:
            return
        scores = evaluate_masks(
            masker,
            self.images,
            foreground=self.foreground,
            parts=self.parts,
            batch_size=self.batch_size,
        )
        self.last_scores = {f"mask_{k}": v for k, v in scores.items()}
        if logs is not None:
            logs.update(self.last_scores)
