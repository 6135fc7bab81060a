"""Callback stopping training at the first non-finite loss, metric or gradient."""

import math

import keras


class NonFiniteError(RuntimeError):
    """Training met a NaN or infinite value (raised by `NonFiniteGuard`)."""


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops `fit` with one clear error at the first non-finite value.

    After every batch it reads the batch logs: any NaN or infinite value, or
    a `nonfinite` metric above 0 (`keras_adios.ADIOS` reports 1 for a step
    whose loss or gradients were non-finite, e.g. from a NaN pixel, even
    when the reported loss still looks plausible), raises `NonFiniteError`
    naming the epoch, the step and the offending values, so nothing after
    it (saving model files, evaluation) runs on corrupted weights. Unlike
    `keras.callbacks.TerminateOnNaN`, it also catches the non-finite
    gradients that do not show in the loss, and it fails instead of ending
    `fit` quietly.

    `keras_adios.ADIOS.fit` adds one by default (`ADIOS(nonfinite="raise")`,
    which also reverts the bad step, so the model keeps the weights of the
    last finite step); pass your own to name a `run_dir` in the error. With
    `ADIOS(nonfinite="skip")` such steps leave the weights unchanged and
    the guard only counts them (`skipped_steps`) and, at the end of
    each epoch, warns how many there were.

    Args:
        run_dir: optional str, a folder to name in the error (where the last
            good state is, e.g. the `BackupAndRestore` backup of the previous
            epoch).

    Example:

    ```python
    import keras, numpy as np, keras_adios
    encoder = keras_adios.encoders.SmallResNet(input_shape=(16, 16, 3), widths=(8,))
    model = keras_adios.ADIOS(encoder, objective=keras_adios.objectives.SimCLR(
        hidden_dim=16, projection_dim=8))
    model.compile()
    views = np.random.rand(2, 8, 16, 16, 3).astype("float32")
    views[0, 3, 5, 5, 0] = np.nan  # one NaN pixel
    try:
        model.fit((views[0], views[1]), batch_size=4, verbose=0,
                  callbacks=[keras_adios.callbacks.NonFiniteGuard(run_dir="runs/x")])
    except keras_adios.callbacks.NonFiniteError as e:
        print(e)  # Non-finite values at epoch 1, step 1: nonfinite=1.0 ...
    ```
    """

    def __init__(self, run_dir=None):
        super().__init__()
        self.run_dir = run_dir
        self.skipped_steps = 0
        self._epoch = 0
        self._epoch_skipped = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_skipped = 0

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        bad = {k: v for k, v in logs.items() if _is_number(v) and not math.isfinite(float(v))}
        fraction = float(logs.get("nonfinite", 0.0)) if _is_number(logs.get("nonfinite", 0.0)) else 0.0
        skipping = bool(getattr(self.model, "skip_nonfinite", False))
        if skipping:
            # `nonfinite` is the epoch's running mean: the fraction of skipped steps.
            skipped = int(round(fraction * (batch + 1)))
            self.skipped_steps += skipped - self._epoch_skipped
            self._epoch_skipped = skipped
        elif fraction > 0:
            bad["nonfinite"] = fraction
        if bad:
            values = ", ".join(f"{k}={float(v):.4g}" for k, v in sorted(bad.items()))
            where = (
                f" The run folder {self.run_dir} keeps the state of the last finished epoch; no model "
                "files were written for this run."
                if self.run_dir
                else ""
            )
            kept = (
                " The model keeps the weights of the last finite step (this step was reverted)."
                if getattr(self.model, "nonfinite", "ignore") == "raise"
                else ""
            )
            raise NonFiniteError(
                f"Non-finite values at epoch {self._epoch + 1}, step {batch + 1}: {values} (a NaN or "
                "infinite loss or gradient; `nonfinite` > 0 means the gradients of a step were not "
                "finite even if the loss looks plausible). Check the input images for NaN/inf and "
                "lower the learning rates; pass `nonfinite=\"skip\"` to ADIOS (`--skip_nonfinite` "
                f"in the CLI) to skip such batches instead.{kept}{where}"
            )

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_skipped:
            import warnings

            warnings.warn(
                f"Epoch {epoch + 1}: {self._epoch_skipped} step(s) with non-finite losses or "
                "gradients were skipped (nonfinite=\"skip\").",
                stacklevel=2,
            )


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
