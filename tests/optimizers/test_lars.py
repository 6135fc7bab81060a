"""Tests for `keras_adios.optimizers.LARS` against a NumPy transcription of
solo-learn's `LARSWrapper(torch.optim.SGD)` (reference notes §1.7)."""

import textwrap

import keras
import numpy as np
import pytest

from keras_adios.optimizers import LARS
from keras_adios.schedules import WarmupCosine
from harness import assert_allclose
from harness import run_serialization_test


def _t(array):
    return keras.ops.convert_to_tensor(np.asarray(array, "float32"))


def _np_lars_step(p, g, v, lr, momentum, wd, eta, clip, exclude_1d, nesterov):
    """One solo-learn LARS + torch SGD step in float64. Returns (p, v, info)."""
    info = "excluded"
    if p.ndim > 1 or not exclude_1d:
        p_norm = np.linalg.norm(p)
        g_norm = np.linalg.norm(g)
        info = "skipped"
        if p_norm != 0 and g_norm != 0:
            local = eta * p_norm / (g_norm + p_norm * wd + 1e-8)
            info = "scaled"
            if clip:
                with np.errstate(divide="ignore"):
                    ratio = local / lr
                info = "clipped" if ratio >= 1 else "scaled"
                local = min(ratio, 1.0)
            g = (g + wd * p) * local
    if momentum != 0:
        v = momentum * v + g
        step = g + momentum * v if nesterov else v
    else:
        step = g
    return p - lr * step, v, info


def _run_both(
    steps,
    learning_rate,
    lr_values,
    momentum=0.9,
    weight_decay=1e-2,
    eta=0.02,
    clip=True,
    exclude_1d=True,
    nesterov=False,
    scales=(0.01, 5.0, 0.1, 20.0, 1.0),
):
    """Applies `steps` random gradients with Keras and with NumPy."""
    rng = np.random.default_rng(0)
    kernel0 = rng.normal(size=(3, 4))
    bias0 = rng.normal(size=(4,)) * 0.5
    kernel = keras.Variable(kernel0.astype("float32"), name="kernel")
    bias = keras.Variable(bias0.astype("float32"), name="bias")
    opt = LARS(
        learning_rate=learning_rate,
        momentum=momentum,
        weight_decay=weight_decay,
        eta=eta,
        clip=clip,
        exclude_1d=exclude_1d,
        nesterov=nesterov,
    )
    ref = {"kernel": [kernel0, np.zeros_like(kernel0)],
           "bias": [bias0, np.zeros_like(bias0)]}
    infos = []
    for step in range(steps):
        scale = scales[step % len(scales)]
        gk = rng.normal(size=kernel0.shape) * scale
        gb = rng.normal(size=bias0.shape) * scale
        opt.apply_gradients(
            [(_t(gk), kernel), (_t(gb), bias)]
        )
        for key, g in (("kernel", gk), ("bias", gb)):
            p, v, info = _np_lars_step(
                ref[key][0], g.astype("float32").astype("float64"),
                ref[key][1], lr_values[step], momentum, weight_decay, eta,
                clip, exclude_1d, nesterov,
            )
            ref[key] = [p, v]
            infos.append((key, info))
        assert_allclose(kernel, ref["kernel"][0], atol=1e-5, rtol=1e-5,
                        msg=f"kernel, step {step}")
        assert_allclose(bias, ref["bias"][0], atol=1e-5, rtol=1e-5,
                        msg=f"bias, step {step}")
    return opt, infos


@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("nesterov", [False, True])
def test_matches_numpy_reference_constant_lr(clip, nesterov):
    _, infos = _run_both(
        steps=5, learning_rate=0.1, lr_values=[0.1] * 5,
        clip=clip, nesterov=nesterov,
    )
    kernel_infos = {info for key, info in infos if key == "kernel"}
    bias_infos = {info for key, info in infos if key == "bias"}
    assert bias_infos == {"excluded"}
    if clip:
        # The gradient scales hit both sides of min(local / lr, 1).
        assert kernel_infos == {"clipped", "scaled"}
    else:
        assert kernel_infos == {"scaled"}


def test_matches_numpy_reference_with_schedule():
    # lr(0) = 0: the clipped ratio is local / 0 = inf -> 1, as in torch.
    schedule = WarmupCosine(
        learning_rate=0.5, total_steps=6, warmup_steps=2,
        warmup_learning_rate=0.0,
    )
    lr_values = [float(schedule(i)) for i in range(6)]
    assert lr_values[0] == 0.0 and lr_values[1] == pytest.approx(0.5)
    opt, infos = _run_both(steps=6, learning_rate=schedule, lr_values=lr_values)
    assert int(opt.iterations) == 6
    assert {info for key, info in infos if key == "kernel"} == {
        "clipped", "scaled"
    }


def test_momentum_zero_and_no_weight_decay():
    _run_both(
        steps=3, learning_rate=0.05, lr_values=[0.05] * 3, momentum=0.0,
        weight_decay=0.0,
    )


def test_exclude_1d_false_scales_biases_too():
    _, infos = _run_both(
        steps=4, learning_rate=0.1, lr_values=[0.1] * 4, exclude_1d=False,
    )
    assert "excluded" not in {info for _, info in infos}


def test_one_dimensional_variables_get_plain_momentum_sgd():
    bias = keras.Variable(np.array([1.0, -2.0, 3.0], "float32"))
    kernel = keras.Variable(np.ones((2, 2), "float32"))
    opt = LARS(learning_rate=0.1, momentum=0.9, weight_decay=0.5)
    g = np.array([0.5, 0.5, -1.0], "float32")
    gk = np.ones((2, 2), "float32")
    opt.apply_gradients([(_t(g), bias), (_t(gk), kernel)])
    opt.apply_gradients([(_t(g), bias), (_t(gk), kernel)])
    # No weight decay, no LARS: v1 = g, v2 = 1.9 g; p -= 0.1 * (v1 + v2).
    expected = np.array([1.0, -2.0, 3.0]) - 0.1 * 2.9 * g
    assert_allclose(bias, expected, atol=1e-6)
    # The base optimizer's decoupled weight decay is off.
    assert opt.weight_decay is None
    assert opt.lars_weight_decay == 0.5
    # The 2-D kernel did get the LARS treatment (differs from plain SGD).
    assert not np.allclose(
        keras.ops.convert_to_numpy(kernel), 1.0 - 0.1 * 2.9 * gk
    )


def test_zero_weights_or_zero_gradient():
    zero_w = keras.Variable(np.zeros((2, 3), "float32"))
    still = keras.Variable(np.full((2, 3), 2.0, "float32"))
    opt = LARS(learning_rate=0.1, momentum=0.9, weight_decay=0.1, eta=0.02)
    g = np.full((2, 3), 0.3, "float32")
    opt.apply_gradients([(_t(g), zero_w), (_t(np.zeros((2, 3))), still)])
    # ||p|| = 0: the gradient is used as is (no trust ratio, wd * 0 = 0).
    assert_allclose(zero_w, -0.1 * g, atol=1e-7)
    # ||g|| = 0: as in solo-learn, neither scaling nor weight decay.
    assert_allclose(still, np.full((2, 3), 2.0), atol=0)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(zero_w)))


def test_stateless_apply_matches_apply(backend):
    rng = np.random.default_rng(1)
    values = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    grads = [_t(rng.normal(size=(3, 2))), _t(rng.normal(size=(2,)))]

    stateful = [keras.Variable(v.astype("float32")) for v in values]
    opt = LARS(learning_rate=0.1, weight_decay=1e-3)
    opt.apply(grads, stateful)
    opt.apply(grads, stateful)

    stateless = [keras.Variable(v.astype("float32")) for v in values]
    opt2 = LARS(learning_rate=0.1, weight_decay=1e-3)
    opt2.build(stateless)
    if backend == "tensorflow":
        # Keras refuses stateless_apply on TF (tf.distribute); fit() uses
        # apply() there, which the other tests cover.
        with pytest.raises(ValueError, match="stateless_apply"):
            opt2.stateless_apply(
                [v.value for v in opt2.variables], grads,
                [v.value for v in stateless],
            )
        return
    opt_values = [v.value for v in opt2.variables]
    values_now = [v.value for v in stateless]
    for _ in range(2):  # the momentum slots must be threaded through
        values_now, opt_values = opt2.stateless_apply(
            opt_values, grads, values_now
        )
    for a, b in zip(values_now, stateful):
        assert_allclose(a, b, atol=1e-6)
    # The variables themselves were not touched.
    assert_allclose(stateless[0], values[0].astype("float32"), atol=0)


def test_base_kwargs_are_forwarded():
    # A 1-D variable (no LARS scaling) shows the base class' clipping.
    var = keras.Variable(np.ones((4,), "float32"))
    opt = LARS(learning_rate=0.1, momentum=0.0, global_clipnorm=1.0)
    g = np.full((4,), 10.0, "float32")  # global norm 20 -> scaled by 1/20
    opt.apply_gradients([(_t(g), var)])
    assert_allclose(var, np.full((4,), 1.0 - 0.1 * 0.5), atol=1e-6)
    assert opt.get_config()["global_clipnorm"] == 1.0
    with pytest.raises(ValueError, match="not recognized"):
        LARS(not_an_argument=1)


def test_get_config_round_trip():
    schedule = WarmupCosine(0.3, total_steps=100, warmup_steps=10,
                            warmup_learning_rate=0.003)
    opt = LARS(
        learning_rate=schedule, momentum=0.8, weight_decay=1e-4, eta=0.01,
        clip=False, exclude_1d=False, nesterov=True, clipnorm=2.0,
        name="masker_lars",
    )
    config = opt.get_config()
    expected = {
        "momentum": 0.8, "weight_decay": 1e-4, "eta": 0.01, "clip": False,
        "exclude_1d": False, "nesterov": True, "clipnorm": 2.0,
        "name": "masker_lars",
    }
    assert {k: config[k] for k in expected} == expected
    revived = run_serialization_test(opt)
    assert revived.get_config()["learning_rate"]["class_name"] == (
        "WarmupCosine"
    )
    assert revived.lars_weight_decay == 1e-4
    assert revived.weight_decay is None
    # Also through keras.optimizers.serialize / deserialize.
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, LARS) and again.get_config() == config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"momentum": -0.1}, "momentum"),
        ({"momentum": 1.5}, "momentum"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"eta": 0.0}, "eta"),
        ({"clip": "yes"}, "clip"),
        ({"exclude_1d": 1}, "exclude_1d"),
        ({"momentum": 0.0, "nesterov": True}, "momentum"),
    ],
)
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}="):
        LARS(**kwargs)


def test_fit_decreases_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    w = rng.normal(size=(8, 1)).astype("float32")
    y = np.tanh(x @ w)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(
        optimizer=LARS(
            learning_rate=WarmupCosine(0.2, total_steps=80, warmup_steps=8,
                                       warmup_learning_rate=0.02),
            weight_decay=1e-4,
        ),
        loss="mse",
    )
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=20, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert after < 0.25 * before
    assert int(model.optimizer.iterations) == 80
    # The schedule reached its end value inside the compiled train step.
    assert float(model.optimizer.learning_rate) == 0.0


def test_docstring_example_runs():
    # The last ```python block of the docstring is the usage example.
    code = LARS.__doc__.split("```python")[-1].split("```")[0]
    namespace = {}
    exec(textwrap.dedent(code), namespace)
    assert isinstance(namespace["model"].optimizer, LARS)
    assert int(namespace["model"].optimizer.iterations) == 1
