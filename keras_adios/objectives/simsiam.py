"""SimSiam objective, as in the authors' SimSiam-ADIOS (masks on both views)."""

import keras
from keras import ops

from keras_adios import losses
from keras_adios.objectives.heads import mlp_head
from keras_adios.objectives.objective import Embedding
from keras_adios.objectives.objective import Objective
from keras_adios.utils import validation


@keras.saving.register_keras_serializable(package="keras_adios")
class SimSiam(Objective):
    """SimSiam objective with the authors' masking terms (`simsiam_adios.py`).

    The mask generator runs on both views (`m1 = M(x1)`, `m2 = M(x2)`). For
    mask `n`, with `x1m = x1 * (1 - m1_n)`, `x2m = x2 * (1 - m2_n)`,
    `z = g(f(.))`, `p = q(z)` and `D(p, z) = -cos(p, stop_gradient(z))`, the
    loss is the mean of the active terms:

    - always `D(p1m, z2)` and `D(p2m, z1)`;
    - `use_symmetry_mask`: `D(p2, z1m)` and `D(p1, z2m)`;
    - `use_no_mask`: `D(p1, z2)` and `D(p2, z1)`;
    - `use_both_mask`: `D(p1m, z2m)` and `D(p2m, z1m)`.

    Without masks (the baseline) ADIOS passes the unmasked views as the
    masked ones, and every term above becomes `D(p1, z2)` or `D(p2, z1)` in
    equal numbers: plain SimSiam, `(D(p1, z2) + D(p2, z1)) / 2` (Chen & He,
    2021, https://arxiv.org/abs/2011.10566).

    Projector: `Linear -> BN -> ReLU -> Linear -> BN -> ReLU -> Linear -> BN`
    (the last BN without affine; the authors' frozen last bias is dropped,
    which is exact because the following BN removes any constant). Predictor:
    `Linear -> BN -> ReLU -> Linear`.

    Deviation: the authors keep the predictor's learning rate constant (not
    scheduled); here it shares the encoder optimizer and its schedule.

    Args:
        projection_dim: int, output size of projector and predictor.
        hidden_dim: int, hidden size of the projector.
        predictor_hidden_dim: int, hidden size of the predictor.
        use_symmetry_mask: bool, see above.
        use_no_mask: bool, see above.
        use_both_mask: bool, see above.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    import keras, keras_adios
    objective = keras_adios.objectives.SimSiam(
        projection_dim=64, hidden_dim=128, predictor_hidden_dim=32
    )
    e1 = objective(keras.random.normal((8, 32)))  # Embedding with projection and prediction
    e2 = objective(keras.random.normal((8, 32)))
    plain_simsiam = objective.loss(e1, e2, e1, e2)  # (D(p1, z2) + D(p2, z1)) / 2
    ```
    """

    masks_both_views = True

    def __init__(
        self,
        projection_dim=2048,
        hidden_dim=2048,
        predictor_hidden_dim=512,
        use_symmetry_mask=True,
        use_no_mask=True,
        use_both_mask=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.set_head_sizes(projection_dim, hidden_dim, predictor_hidden_dim)
        self.use_symmetry_mask = validation.check_bool(use_symmetry_mask, "use_symmetry_mask")
        self.use_no_mask = validation.check_bool(use_no_mask, "use_no_mask")
        self.use_both_mask = validation.check_bool(use_both_mask, "use_both_mask")

    def build(self, input_shape):
        self.projector = mlp_head(
            [self.hidden_dim, self.hidden_dim, self.projection_dim],
            batch_norm=True,
            name="projector",
            last_bias=False,
            last_batch_norm=True,
        )
        self.projector.build(input_shape)
        self.predictor = mlp_head(
            [self.predictor_hidden_dim, self.projection_dim],
            batch_norm=True,
            name="predictor",
        )
        self.predictor.build((None, self.projection_dim))

    def call(self, features):
        projection = self.projector(features)
        return Embedding(features, projection=projection, prediction=self.predictor(projection))

    def loss(self, clean1, clean2, masked1, masked2):
        d = losses.simsiam_loss
        z1, p1, z2, p2 = clean1.projection, clean1.prediction, clean2.projection, clean2.prediction
        z1m, p1m, z2m, p2m = masked1.projection, masked1.prediction, masked2.projection, masked2.prediction
        terms = [d(p1m, z2), d(p2m, z1)]
        if self.use_symmetry_mask:
            terms += [d(p2, z1m), d(p1, z2m)]
        if self.use_no_mask:
            terms += [d(p1, z2), d(p2, z1)]
        if self.use_both_mask:
            terms += [d(p1m, z2m), d(p2m, z1m)]
        return ops.mean(ops.stack(terms))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "use_symmetry_mask": self.use_symmetry_mask,
                "use_no_mask": self.use_no_mask,
                "use_both_mask": self.use_both_mask,
            }
        )
        return config
