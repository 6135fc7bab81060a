"""LARS-wrapped momentum SGD (solo-learn's `LARSWrapper(SGD)`, as in ADIOS)."""

import keras
from keras import ops

_EPS = 1e-8


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@keras.saving.register_keras_serializable(package="keras_adios")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise adaptive rate scaling around PyTorch-style momentum SGD.

    Reproduces solo-learn's `LARSWrapper` around `torch.optim.SGD`, the
    optimiser of both the encoder and the masker in ADIOS
    ([Shi et al., 2022](https://arxiv.org/abs/2201.13100)), with
    `eta=0.02, clip=True, exclude_bias_n_norm=True`.

    For every variable `p` with gradient `g` and current learning rate `lr`:

    1. If `p.ndim > 1` (or `exclude_1d=False`) and both `||p||` and `||g||`
       are non-zero (L2 norms over the whole tensor):

       ```
       local = eta * ||p|| / (||g|| + weight_decay * ||p|| + 1e-8)
       local = min(local / lr, 1)          # only if clip=True
       g = (g + weight_decay * p) * local
       ```

       Otherwise `g` is left unchanged: variables with `ndim <= 1` (biases,
       normalisation scales and offsets) get neither weight decay nor LARS
       scaling when `exclude_1d=True`, and, as in solo-learn, a variable
       whose weights or gradient are all zero gets no weight decay in that
       step either.
    2. PyTorch momentum SGD (the learning rate is applied *outside* the
       momentum buffer, unlike `keras.optimizers.SGD`, which matters when the
       learning rate changes over time):

       ```
       v = momentum * v + g
       p = p - lr * v          # nesterov=True: p - lr * (g + momentum * v)
       ```

    The weight decay belongs to the LARS maths above, so Keras' decoupled
    weight decay of the base optimiser is disabled (`self.weight_decay` is
    `None`); the coefficient lives in `self.lars_weight_decay` and round-trips
    through `get_config()["weight_decay"]`.

    Args:
        learning_rate: float, or a
            `keras.optimizers.schedules.LearningRateSchedule` (e.g.
            `keras_adios.schedules.WarmupCosine`). The SGD learning rate; it
            also divides the trust ratio when `clip=True`. Defaults to `0.1`.
        momentum: float in `[0, 1]`. PyTorch-style momentum. Defaults to
            `0.9`.
        weight_decay: float >= 0. L2 weight decay folded into the gradient
            before the LARS scaling (only for non-excluded variables).
            Defaults to `0.0`.
        eta: float > 0. LARS trust coefficient. Defaults to `0.02`.
        clip: bool. Whether to clip the local rate, `min(local / lr, 1)`, so
            that the effective learning rate never exceeds `lr`. Defaults to
            `True`.
        exclude_1d: bool. Whether variables with `ndim <= 1` skip both the
            weight decay and the LARS scaling (solo-learn's
            `exclude_bias_n_norm`). Defaults to `True`.
        nesterov: bool. Nesterov momentum as in `torch.optim.SGD`. Requires
            `momentum > 0`. Defaults to `False`.
        name: string. The optimizer name. Defaults to `"lars"`.
        **kwargs: base `keras.optimizers.Optimizer` arguments such as
            `clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`,
            `loss_scale_factor` or `gradient_accumulation_steps`.

    Example:

    ```python
    import numpy as np
    import keras
    import keras_adios.optimizers
    import keras_adios.schedules

    schedule = keras_adios.schedules.WarmupCosine(
        learning_rate=0.3, total_steps=100, warmup_steps=10,
        warmup_learning_rate=0.003,
    )
    optimizer = keras_adios.optimizers.LARS(
        learning_rate=schedule, momentum=0.9, weight_decay=1e-5
    )
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=1, verbose=0)
    ```
    """

    def __init__(
        self,
        learning_rate=0.1,
        momentum=0.9,
        weight_decay=0.0,
        eta=0.02,
        clip=True,
        exclude_1d=True,
        nesterov=False,
        name="lars",
        **kwargs,
    ):
        if _is_number(learning_rate) and learning_rate < 0:
            raise ValueError(
                "`learning_rate` must be >= 0. "
                f"Received: learning_rate={learning_rate}"
            )
        if not _is_number(momentum) or not 0.0 <= momentum <= 1.0:
            raise ValueError(
                "`momentum` must be a float in [0, 1]. "
                f"Received: momentum={momentum!r}"
            )
        if weight_decay is None:
            weight_decay = 0.0
        if not _is_number(weight_decay) or weight_decay < 0:
            raise ValueError(
                "`weight_decay` must be a float >= 0. "
                f"Received: weight_decay={weight_decay!r}"
            )
        if not _is_number(eta) or eta <= 0:
            raise ValueError(
                f"`eta` must be a float > 0. Received: eta={eta!r}"
            )
        for arg_name, value in (
            ("clip", clip),
            ("exclude_1d", exclude_1d),
            ("nesterov", nesterov),
        ):
            if not isinstance(value, bool):
                raise ValueError(
                    f"`{arg_name}` must be a bool. "
                    f"Received: {arg_name}={value!r}"
                )
        if nesterov and momentum == 0:
            raise ValueError(
                "Nesterov momentum requires `momentum > 0`. "
                f"Received: momentum={momentum}, nesterov={nesterov}"
            )
        # The weight decay is part of the LARS update; Keras' own decoupled
        # weight decay must stay off, so the base class receives `None`.
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=None,
            name=name,
            **kwargs,
        )
        self.momentum = float(momentum)
        self.lars_weight_decay = float(weight_decay)
        self.eta = float(eta)
        self.clip = clip
        self.exclude_1d = exclude_1d
        self.nesterov = nesterov

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum != 0:
            for variable in variables:
                self.momentums.append(
                    self.add_variable_from_reference(variable, "momentum")
                )

    def _uses_lars(self, variable):
        return len(variable.shape) > 1 or not self.exclude_1d

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(gradient, dtype)

        if self._uses_lars(variable):
            p = ops.convert_to_tensor(variable)
            wd = ops.cast(self.lars_weight_decay, dtype)
            p_norm = ops.sqrt(ops.sum(ops.square(p)))
            g_norm = ops.sqrt(ops.sum(ops.square(g)))
            local = ops.divide(
                ops.multiply(ops.cast(self.eta, dtype), p_norm),
                ops.add(ops.add(g_norm, ops.multiply(wd, p_norm)), _EPS),
            )
            if self.clip:
                local = ops.minimum(ops.divide(local, lr), 1.0)
            scaled = ops.multiply(ops.add(g, ops.multiply(wd, p)), local)
            apply = ops.logical_and(
                ops.not_equal(p_norm, 0.0), ops.not_equal(g_norm, 0.0)
            )
            g = ops.where(apply, scaled, g)

        if self.momentum != 0:
            v = self.momentums[self._get_variable_index(variable)]
            momentum = ops.cast(self.momentum, dtype)
            v_new = ops.add(ops.multiply(v, momentum), g)
            self.assign(v, v_new)
            if self.nesterov:
                step = ops.add(g, ops.multiply(v_new, momentum))
            else:
                step = v_new
        else:
            step = g
        self.assign_sub(variable, ops.multiply(step, lr))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "weight_decay": self.lars_weight_decay,
                "eta": self.eta,
                "clip": self.clip,
                "exclude_1d": self.exclude_1d,
                "nesterov": self.nesterov,
            }
        )
        return config
