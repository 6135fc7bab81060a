"""BYOL objective with an EMA target network, as in the authors' BYOL-ADIOS."""

import math
import warnings

import keras
from keras import ops

from keras_adios import losses
from keras_adios.objectives.heads import mlp_head
from keras_adios.objectives.objective import Embedding
from keras_adios.objectives.objective import Objective
from keras_adios.utils import validation
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

    The target encoder and projector start as copies of the online ones
    (`attach_encoder`) and follow them by an exponential moving average once
    per training step, `xi <- tau * xi + (1 - tau) * theta`, with the cosine
    schedule `tau_k = final - (final - base) * (cos(pi * k / K) + 1) / 2` over
    the `K` training steps. Give `K` as `total_steps`, or add the callback
    `keras_adios.callbacks.MomentumSchedule()` to `fit`, which sets it from
    `epochs` and the steps per epoch; without either, `tau` stays at
    `base_momentum` (and a warning says so). Only trainable weights are
    averaged; the target's BatchNorm statistics come from its own
    (train-mode) forward passes, as in solo-learn. The target layers stay
    `trainable=True` so that their BatchNorm uses batch statistics like the
    original, but no optimizer ever updates them (`online_variables`
    excludes them).

    Args:
        projection_dim: int, output size of projector and predictor (256).
        hidden_dim: int, hidden size of the projector (4096 in the scripts).
        predictor_hidden_dim: int, hidden size of the predictor (8192 in the
            scripts).
        base_momentum: float in [0, 1], EMA momentum at step 0 (0.99).
        final_momentum: float in [0, 1], EMA momentum at the last step (1.0).
        total_steps: optional int, the `K` of the momentum schedule.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    import keras_adios
    objective = keras_adios.objectives.BYOL(
        projection_dim=64, hidden_dim=256, predictor_hidden_dim=256, total_steps=1000
    )
    encoder = keras_adios.encoders.SmallResNet(input_shape=(32, 32, 3), widths=(16, 32))
    model = keras_adios.ADIOS(encoder, objective=objective)  # builds the target network
    objective.momentum(500)  # 0.995, halfway along the cosine from 0.99 to 1
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
        self.set_head_sizes(projection_dim, hidden_dim, predictor_hidden_dim)
        self.base_momentum = validation.check_number(base_momentum, "base_momentum", 0.0, 1.0)
        self.final_momentum = validation.check_number(final_momentum, "final_momentum", 0.0, 1.0)
        self.total_steps = validation.check_positive_int(total_steps, "total_steps", allow_none=True)
        self._schedule_known = self.total_steps is not None
        self.target_encoder = None

    def attach_encoder(self, encoder):
        self.target_encoder = _clone(encoder, "target_encoder")

    def build(self, input_shape):
        if self.target_encoder is None:
            raise ValueError(
                "BYOL builds its target network from the encoder: use it through "
                "keras_adios.ADIOS (which calls `attach_encoder(encoder)` first), "
                "or call `attach_encoder(encoder)` before `build`."
            )
        self.projector = mlp_head(
            [self.hidden_dim, self.projection_dim], batch_norm=True, name="projector"
        )
        self.projector.build(input_shape)
        self.predictor = mlp_head(
            [self.predictor_hidden_dim, self.projection_dim], batch_norm=True, name="predictor"
        )
        self.predictor.build((None, self.projection_dim))
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

    def set_total_steps(self, total_steps):
        """Sets `K`, the length of the momentum schedule (unless `total_steps` was given)."""
        self._schedule_known = True
        if self.total_steps is None:
            self.schedule_steps.assign(float(validation.check_positive_int(total_steps, "total_steps")))

    def momentum(self, step):
        """EMA momentum `tau` at training step `step` (0-based)."""
        total = ops.cast(self.schedule_steps, "float32")
        fraction = ops.minimum(ops.cast(step, "float32") / ops.maximum(total, 1.0), 1.0)
        tau = self.final_momentum - (self.final_momentum - self.base_momentum) * (
            ops.cos(math.pi * fraction) + 1.0
        ) / 2.0
        return ops.where(total > 0, tau, self.base_momentum)

    def call(self, features):
        projection = self.projector(features)
        return Embedding(features, projection=projection, prediction=self.predictor(projection))

    def encode(self, encoder, images, training=None):
        online = super().encode(encoder, images, training=training)
        with no_grad():
            target = self.target_projector(
                self.target_encoder(images, training=training), training=training
            )
        return online._replace(target=ops.stop_gradient(target))

    def loss(self, clean1, clean2, masked1, masked2):
        return losses.byol_loss(clean1.prediction, masked2.target) + losses.byol_loss(
            masked2.prediction, clean1.target
        )

    def update_targets(self, encoder, step):
        if not self._schedule_known:
            warnings.warn(
                "BYOL's momentum schedule does not know the number of training "
                "steps, so tau stays at base_momentum. Pass `total_steps` to BYOL "
                "or add `keras_adios.callbacks.MomentumSchedule()` to fit's callbacks.",
                stacklevel=2,
            )
            self._schedule_known = True  # warn once
        tau = self.momentum(step)
        pairs = list(zip(self.target_encoder.trainable_variables, encoder.trainable_variables))
        pairs += list(zip(self.target_projector.trainable_variables, self.projector.trainable_variables))
        with no_grad():
            for target, online in pairs:
                target.assign(tau * target + (1.0 - tau) * ops.stop_gradient(online))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "base_momentum": self.base_momentum,
                "final_momentum": self.final_momentum,
                "total_steps": self.total_steps,
            }
        )
        return config
