"""BYOL objective with an EMA target network, as in the authors' BYOL-ADIOS."""

import math

import keras
from keras import ops

from keras_adios import losses
from keras_adios.objectives.heads import check_dims
from keras_adios.objectives.heads import mlp_head
from keras_adios.objectives.objective import Objective
from keras_adios.utils.backend_utils import no_grad


def _clone(model, name):
    try:
        clone = keras.models.clone_model(model)
    except Exception as e:  # pragma: no cover - depends on the user's model
        raise ValueError(
            "BYOL needs a copy of the encoder for its target network, but "
            f"`keras.models.clone_model` failed on {model.__class__.__name__} "
            "(a subclassed model must implement `get_config`). "
            f"Received error: {e}"
        ) from e
    clone.set_weights(model.get_weights())
    clone.name = name
    return clone


@keras.saving.register_keras_serializable(package="keras_adios")
class BYOL(Objective):
    """BYOL objective: online projector + predictor, EMA target network.

    For mask `n` (`byol_adios.py`), with `p = q(g(f(.)))` online and
    `t = g_target(f_target(.))` under stop-gradient:
    `loss_n = byol(p(x1), t(x2 * (1 - m_n))) + byol(p(x2 * (1 - m_n)), t(x1))`
    where `byol(p, t) = mean_b 2 - 2 cos(p, t)`. The masker therefore receives
    gradients only through the online branch, as in the original.

    The target encoder and projector start as copies of the online ones and
    follow them by an exponential moving average once per training step,
    `xi <- tau * xi + (1 - tau) * theta`, with the cosine schedule
    `tau_k = final - (final - base) * (cos(pi * k / K) + 1) / 2` over the `K`
    training steps (`ADIOS.fit` sets `K` from `epochs` and the steps per
    epoch unless `total_steps` is given). Only trainable weights are averaged;
    the target's BatchNorm statistics come from its own (train-mode) forward
    passes, as in solo-learn. The target layers stay `trainable=True` so that
    their BatchNorm uses batch statistics like the original, but no optimizer
    ever updates them.

    Args:
        projection_dim: int, output size of projector and predictor (256).
        hidden_dim: int, hidden size of the projector (4096 in the scripts).
        predictor_hidden_dim: int, hidden size of the predictor (8192 in the
            scripts).
        base_momentum: float in [0, 1], EMA momentum at step 0 (0.99).
        final_momentum: float in [0, 1], EMA momentum at the last step (1.0).
        total_steps: optional int, the `K` of the momentum schedule. `None`
            lets `ADIOS.fit` compute it.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    objective = keras_adios.objectives.BYOL(
        projection_dim=64, hidden_dim=256, predictor_hidden_dim=256
    )
    ```
    """

    def __init__(
        self,
        projection_dim=256,
        hidden_dim=4096,
        predictor_hidden_dim=8192,
        base_momentum=0.99,
        final_momentum=1.0,
        total_steps=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_dims(
            projection_dim=projection_dim,
            hidden_dim=hidden_dim,
            predictor_hidden_dim=predictor_hidden_dim,
        )
        for arg, value in (("base_momentum", base_momentum), ("final_momentum", final_momentum)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"`{arg}` must be in [0, 1]. Received: {arg}={value}"
                )
        if total_steps is not None and (int(total_steps) != total_steps or total_steps < 1):
            raise ValueError(
                "`total_steps` must be None or a positive integer. "
                f"Received: total_steps={total_steps}"
            )
        self.projection_dim = int(projection_dim)
        self.hidden_dim = int(hidden_dim)
        self.predictor_hidden_dim = int(predictor_hidden_dim)
        self.base_momentum = float(base_momentum)
        self.final_momentum = float(final_momentum)
        self.total_steps = None if total_steps is None else int(total_steps)

    def build_heads(self, encoder, feature_dim):
        self.projector = mlp_head(
            [self.hidden_dim, self.projection_dim], batch_norm=True, name="projector"
        )
        self.projector.build((None, feature_dim))
        self.predictor = mlp_head(
            [self.predictor_hidden_dim, self.projection_dim],
            batch_norm=True,
            name="predictor",
        )
        self.predictor.build((None, self.projection_dim))
        self.target_encoder = _clone(encoder, "target_encoder")
        self.target_projector = _clone(self.projector, "target_projector")
        self.schedule_steps = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(float(self.total_steps or 0)),
            trainable=False,
            name="schedule_steps",
        )

    @property
    def online_variables(self):
        return self.projector.trainable_variables + self.predictor.trainable_variables

    @property
    def needs_total_steps(self):
        return self.total_steps is None

    def set_total_steps(self, total_steps):
        if self.total_steps is None:
            self.schedule_steps.assign(float(total_steps))

    def momentum(self, step):
        """EMA momentum `tau` at training step `step` (0-based)."""
        total = ops.cast(self.schedule_steps, "float32")
        fraction = ops.minimum(ops.cast(step, "float32") / ops.maximum(total, 1.0), 1.0)
        tau = self.final_momentum - (self.final_momentum - self.base_momentum) * (
            ops.cos(math.pi * fraction) + 1.0
        ) / 2.0
        return ops.where(total > 0, tau, self.base_momentum)

    def _online(self, encoder, x, training):
        features = encoder(x, training=training)
        projection = self.projector(features, training=training)
        return features, self.predictor(projection, training=training)

    def _target(self, x, training):
        with no_grad():
            features = self.target_encoder(x, training=training)
            return ops.stop_gradient(self.target_projector(features, training=training))

    def reference(self, encoder, x1, x2, training=False):
        features, p1 = self._online(encoder, x1, training)
        return {"features": features, "p1": p1, "t1": self._target(x1, training)}

    def _pair_loss(self, reference, x2_view, encoder, training):
        _, p2 = self._online(encoder, x2_view, training)
        t2 = self._target(x2_view, training)
        return losses.byol_loss(reference["p1"], t2) + losses.byol_loss(p2, reference["t1"])

    def masked_loss(self, encoder, reference, x1_masked, x2_masked, training=False):
        return self._pair_loss(reference, x2_masked, encoder, training)

    def unmasked_loss(self, encoder, reference, x2, training=False):
        return self._pair_loss(reference, x2, encoder, training)

    def update_targets(self, encoder, step):
        tau = self.momentum(step)
        pairs = list(zip(self.target_encoder.trainable_variables, encoder.trainable_variables))
        pairs += list(
            zip(self.target_projector.trainable_variables, self.projector.trainable_variables)
        )
        with no_grad():
            for target, online in pairs:
                target.assign(tau * target + (1.0 - tau) * ops.stop_gradient(online))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "projection_dim": self.projection_dim,
                "hidden_dim": self.hidden_dim,
                "predictor_hidden_dim": self.predictor_hidden_dim,
                "base_momentum": self.base_momentum,
                "final_momentum": self.final_momentum,
                "total_steps": self.total_steps,
            }
        )
        return config
