"""Tests for `keras_adios.schedules.WarmupCosine` against the closed form of
pl_bolts' `LinearWarmupCosineAnnealingLR` (reference notes §1.7)."""

import math
import textwrap

import keras
import numpy as np
import pytest

from keras_adios.schedules import WarmupCosine
from harness import assert_allclose
from harness import run_serialization_test


def _np_schedule(t, base, total, warmup=0, start=0.0, end=0.0):
    """pl_bolts' `_get_closed_form_lr`, clamped at `end` from `total` on."""
    if t >= total:
        return end
    if t < warmup:
        return start + t * (base - start) / max(1, warmup - 1)
    return end + 0.5 * (base - end) * (
        1 + math.cos(math.pi * (t - warmup) / (total - warmup))
    )


def _values(schedule, steps):
    return np.array(
        [float(keras.ops.convert_to_numpy(schedule(s))) for s in steps]
    )


CONFIGS = [
    dict(learning_rate=0.3, total_steps=20, warmup_steps=5,
         warmup_learning_rate=0.003, end_learning_rate=0.0),
    dict(learning_rate=1.0, total_steps=7, warmup_steps=0,
         warmup_learning_rate=0.0, end_learning_rate=0.1),
    dict(learning_rate=0.5, total_steps=10, warmup_steps=1,
         warmup_learning_rate=0.05, end_learning_rate=0.01),
    dict(learning_rate=0.2, total_steps=13, warmup_steps=12,
         warmup_learning_rate=0.0, end_learning_rate=0.0),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_per_step_matches_numpy_formula(config):
    schedule = WarmupCosine(**config)
    steps = list(range(config["total_steps"] + 5))
    expected = [
        _np_schedule(
            t, config["learning_rate"], config["total_steps"],
            config["warmup_steps"], config["warmup_learning_rate"],
            config["end_learning_rate"],
        )
        for t in steps
    ]
    assert_allclose(_values(schedule, steps), expected, atol=1e-6, rtol=1e-6)


def test_per_epoch_matches_numpy_formula():
    # ADIOS: 10 warmup epochs from 0.003, cosine to 0, stepped per epoch.
    spe = 7
    schedule = WarmupCosine(
        learning_rate=0.4, total_steps=30, warmup_steps=10,
        warmup_learning_rate=0.003, steps_per_epoch=spe,
    )
    steps = np.arange(0, spe * 33)
    expected = [_np_schedule(s // spe, 0.4, 30, 10, 0.003) for s in steps]
    values = _values(schedule, steps)
    assert_allclose(values, expected, atol=1e-6, rtol=1e-6)
    # Constant within an epoch.
    per_epoch = values.reshape(33, spe)
    assert np.all(per_epoch == per_epoch[:, :1])
    # The authors' numbers: lr_e = 0.003 + e * (base - 0.003) / 9.
    assert values[0] == pytest.approx(0.003)
    assert values[spe * 9] == pytest.approx(0.4)
    assert values[spe * 10] == pytest.approx(0.4)  # cosine starts at base
    assert values[spe * 20] == pytest.approx(0.2, abs=1e-6)  # half-way


def test_per_epoch_is_exact_for_large_steps():
    # In float32 the step 99,999,999 itself rounds to 1e8, so float maths would
    # put the last step of epoch 999 into epoch 1000; integer division does not.
    spe = 100_000
    schedule = WarmupCosine(1.0, total_steps=3_000, warmup_steps=2_000,
                            steps_per_epoch=spe)
    step = 1_000 * spe - 1  # last step of epoch 999
    assert float(schedule(step)) == pytest.approx(999 / 1999)
    assert float(schedule(step + 1)) == pytest.approx(1000 / 1999)


def test_warmup_is_monotone_then_decay_is_monotone():
    schedule = WarmupCosine(
        learning_rate=0.5, total_steps=40, warmup_steps=10,
        warmup_learning_rate=0.01, end_learning_rate=0.02,
    )
    values = _values(schedule, range(41))
    warmup, decay = values[:10], values[10:]
    assert np.all(np.diff(warmup) > 0)
    assert warmup[0] == pytest.approx(0.01)
    assert warmup[-1] == pytest.approx(0.5)
    assert np.all(np.diff(decay) <= 1e-7)
    assert decay[0] == pytest.approx(0.5)
    assert values.max() == pytest.approx(0.5)
    assert decay.min() == pytest.approx(0.02)
    assert values.min() == pytest.approx(0.01)


def test_end_value_and_clamping_past_total():
    schedule = WarmupCosine(
        learning_rate=0.5, total_steps=20, warmup_steps=5,
        end_learning_rate=0.05,
    )
    # Just before the end the rate is still above end_learning_rate ...
    assert float(schedule(19)) > 0.05
    # ... and from total_steps on it stays exactly there (pl_bolts would
    # follow the periodic cosine back up).
    for step in (20, 21, 35, 10_000):
        assert float(schedule(step)) == pytest.approx(0.05, abs=1e-7)
    unclamped = _np_schedule(19, 0.5, 20, 5, 0.0, 0.05)
    assert float(schedule(19)) == pytest.approx(unclamped)


def test_accepts_backend_tensors_and_numpy_steps():
    schedule = WarmupCosine(0.3, total_steps=20, warmup_steps=5,
                            steps_per_epoch=2)
    expected = _np_schedule(3, 0.3, 20, 5)
    for step in (
        7,
        np.int64(7),
        keras.ops.convert_to_tensor(7, dtype="int32"),
        keras.ops.convert_to_tensor(7, dtype="int64"),
        keras.Variable(7, dtype="int64", trainable=False),
    ):
        value = schedule(step)
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        assert float(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"learning_rate": -0.1, "total_steps": 10}, "learning_rate"),
        ({"learning_rate": "0.1", "total_steps": 10}, "learning_rate"),
        ({"learning_rate": 0.1, "total_steps": 10,
          "warmup_learning_rate": -1.0}, "warmup_learning_rate"),
        ({"learning_rate": 0.1, "total_steps": 10,
          "end_learning_rate": -1e-3}, "end_learning_rate"),
        ({"learning_rate": 0.1, "total_steps": 10, "warmup_steps": -1},
         "warmup_steps"),
        ({"learning_rate": 0.1, "total_steps": 10, "warmup_steps": 10},
         "total_steps"),
        ({"learning_rate": 0.1, "total_steps": 0}, "total_steps"),
        ({"learning_rate": 0.1, "total_steps": 10.0}, "total_steps"),
        ({"learning_rate": 0.1, "total_steps": 10, "steps_per_epoch": 0},
         "steps_per_epoch"),
    ],
)
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}="):
        WarmupCosine(**kwargs)


def test_get_config_round_trip():
    schedule = WarmupCosine(
        learning_rate=0.25, total_steps=50, warmup_steps=4,
        warmup_learning_rate=0.001, end_learning_rate=0.002,
        steps_per_epoch=3, name="masker_lr",
    )
    assert schedule.get_config() == {
        "learning_rate": 0.25, "total_steps": 50, "warmup_steps": 4,
        "warmup_learning_rate": 0.001, "end_learning_rate": 0.002,
        "steps_per_epoch": 3, "name": "masker_lr",
    }
    revived = run_serialization_test(schedule)
    steps = [0, 5, 12, 40, 200]
    assert_allclose(_values(revived, steps), _values(schedule, steps), atol=0)
    again = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert isinstance(again, WarmupCosine)


def test_drives_an_optimizer_in_fit():
    spe = 4
    schedule = WarmupCosine(
        learning_rate=0.1, total_steps=6, warmup_steps=2,
        warmup_learning_rate=0.01, steps_per_epoch=spe,
    )
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    x = np.random.rand(16, 3).astype("float32")
    y = np.random.rand(16, 1).astype("float32")

    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(self.model.optimizer.learning_rate))

    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0,
                        callbacks=[Record()])
    assert np.all(np.isfinite(history.history["loss"]))
    assert int(model.optimizer.iterations) == 3 * spe
    # After epoch e the optimizer sits at step (e + 1) * spe, i.e. epoch e + 1.
    expected = [_np_schedule(e + 1, 0.1, 6, 2, 0.01) for e in range(3)]
    assert_allclose(seen, expected, atol=1e-7)


def test_docstring_example_runs():
    code = WarmupCosine.__doc__.split("```python")[1].split("```")[0]
    namespace = {}
    exec(textwrap.dedent(code), namespace)
    schedule = namespace["schedule"]
    assert float(schedule(0)) == pytest.approx(0.003)
    assert float(schedule(390 * 9)) == pytest.approx(0.3)
    assert float(schedule(390 * 500)) == 0.0
