"""Linear warmup then cosine annealing (pl_bolts' schedule, closed form)."""

import math

import keras
from keras import ops


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


@keras.saving.register_keras_serializable(package="keras_adios")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup then cosine decay (pl_bolts' warmup-cosine schedule).

    ADIOS ([Shi et al., 2022](https://arxiv.org/abs/2201.13100)) schedules
    every optimiser with pl_bolts' `LinearWarmupCosineAnnealingLR`, stepped
    once per **epoch** (10 warmup epochs from 0.003, `eta_min=0`). This class
    evaluates the closed form of that schedule at the optimiser's step.

    With `t` the current unit, `t = step` if `steps_per_epoch` is None, else
    `t = floor(step / steps_per_epoch)` (the learning rate is then constant
    within an epoch and `total_steps`/`warmup_steps` count epochs):

    ```
    t < warmup_steps:
        lr = warmup_learning_rate
             + t * (learning_rate - warmup_learning_rate)
               / max(warmup_steps - 1, 1)
    warmup_steps <= t < total_steps:
        progress = (t - warmup_steps) / (total_steps - warmup_steps)
        lr = end_learning_rate
             + 0.5 * (learning_rate - end_learning_rate)
               * (1 + cos(pi * progress))
    t >= total_steps:
        lr = end_learning_rate
    ```

    As in pl_bolts, the warmup reaches `learning_rate` at
    `t = warmup_steps - 1` and the cosine starts from `learning_rate` at
    `t = warmup_steps`, so the peak is held for two units.

    Differences from pl_bolts: past `total_steps` pl_bolts keeps following
    the (periodic) cosine, i.e. the learning rate slowly rises again; here it
    is clamped at `end_learning_rate`. (For BYOL-ADIOS, whose encoder
    schedule is 10 epochs shorter than training, pl_bolts gives <= 0.1 % of
    the base rate over those epochs, so clamping at 0 is a negligible
    change.) With `warmup_steps=0` pl_bolts' chained (recursive) form
    returns `warmup_start_lr` at epoch 0; this closed form returns
    `learning_rate`.

    Args:
        learning_rate: float >= 0. The peak (base) learning rate.
        total_steps: int. Length of the schedule (warmup included), in steps,
            or in epochs if `steps_per_epoch` is set. Must be
            `> warmup_steps`.
        warmup_steps: int >= 0. Length of the linear warmup, in the same
            unit. Defaults to `0` (no warmup).
        warmup_learning_rate: float >= 0. Learning rate at `t = 0` of the
            warmup (pl_bolts' `warmup_start_lr`). Defaults to `0.0`.
        end_learning_rate: float >= 0. Final learning rate (pl_bolts'
            `eta_min`). Defaults to `0.0`.
        steps_per_epoch: `None` or int >= 1. If set, the schedule advances
            once every `steps_per_epoch` optimiser steps (per-epoch stepping,
            as the ADIOS authors do). Defaults to `None` (per-step).
        name: string. Name scope of the schedule. Defaults to
            `"warmup_cosine"`.

    Example:

    ```python
    import keras
    import keras_adios.schedules

    # ADIOS: 10 warmup epochs from 0.003 to 0.3, cosine to 0 at epoch 500,
    # stepped per epoch, with 390 batches per epoch.
    schedule = keras_adios.schedules.WarmupCosine(
        learning_rate=0.3,
        total_steps=500,
        warmup_steps=10,
        warmup_learning_rate=0.003,
        steps_per_epoch=390,
    )
    float(schedule(0))  # 0.003
    float(schedule(390 * 9))  # 0.3
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    ```
    """

    def __init__(
        self,
        learning_rate,
        total_steps,
        warmup_steps=0,
        warmup_learning_rate=0.0,
        end_learning_rate=0.0,
        steps_per_epoch=None,
        name="warmup_cosine",
    ):
        super().__init__()
        for arg_name, value in (
            ("learning_rate", learning_rate),
            ("warmup_learning_rate", warmup_learning_rate),
            ("end_learning_rate", end_learning_rate),
        ):
            if not _is_number(value) or value < 0 or not math.isfinite(value):
                raise ValueError(
                    f"`{arg_name}` must be a finite float >= 0. "
                    f"Received: {arg_name}={value!r}"
                )
        if not _is_int(warmup_steps) or warmup_steps < 0:
            raise ValueError(
                "`warmup_steps` must be an integer >= 0. "
                f"Received: warmup_steps={warmup_steps!r}"
            )
        if not _is_int(total_steps) or total_steps <= warmup_steps:
            raise ValueError(
                "`total_steps` must be an integer > `warmup_steps`. "
                f"Received: total_steps={total_steps!r}, "
                f"warmup_steps={warmup_steps!r}"
            )
        if steps_per_epoch is not None and (
            not _is_int(steps_per_epoch) or steps_per_epoch < 1
        ):
            raise ValueError(
                "`steps_per_epoch` must be None or an integer >= 1. "
                f"Received: steps_per_epoch={steps_per_epoch!r}"
            )
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_learning_rate = float(warmup_learning_rate)
        self.end_learning_rate = float(end_learning_rate)
        self.steps_per_epoch = (
            None if steps_per_epoch is None else int(steps_per_epoch)
        )
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name or "warmup_cosine"):
            dtype = "float32"
            if self.steps_per_epoch is None:
                t = ops.cast(step, dtype)
            else:
                # Integer division: exact, unlike float32 `step / n` which
                # can round up to the next epoch for large step counts.
                t = ops.floor_divide(
                    ops.cast(step, "int32"), self.steps_per_epoch
                )
                t = ops.cast(t, dtype)
            warmup = float(self.warmup_steps)
            total = float(self.total_steps)
            base = self.learning_rate
            start = self.warmup_learning_rate
            end = self.end_learning_rate

            warmup_lr = start + t * (
                (base - start) / max(self.warmup_steps - 1, 1)
            )
            progress = ops.divide(
                ops.minimum(ops.maximum(t - warmup, 0.0), total - warmup),
                total - warmup,
            )
            cosine_lr = end + 0.5 * (base - end) * (
                1.0 + ops.cos(math.pi * progress)
            )
            lr = ops.where(ops.less(t, warmup), warmup_lr, cosine_lr)
            lr = ops.where(
                ops.greater_equal(t, total), ops.cast(end, dtype), lr
            )
            return ops.cast(lr, dtype)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_learning_rate": self.warmup_learning_rate,
            "end_learning_rate": self.end_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }
