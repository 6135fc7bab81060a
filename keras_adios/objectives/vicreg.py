"""VICReg objective: variance, invariance and covariance regularisation."""

import keras
from keras import ops

from keras_adios.distribute.replica import cross_replica_gather
from keras_adios.objectives.heads import mlp_head
from keras_adios.objectives.objective import Embedding
from keras_adios.objectives.objective import Objective
from keras_adios.utils import validation


def vicreg_loss(
    z1,
    z2,
    invariance_weight=25.0,
    variance_weight=25.0,
    covariance_weight=1.0,
    epsilon=1e-4,
    gather_fn=None,
):
    """The VICReg loss between two `(B, D)` embeddings (Bardes et al., 2022).

    With `S(z) = sqrt(var_b(z) + epsilon)` per dimension (unbiased variance)
    and `C(z)` the `(D, D)` covariance of the centred batch (divided by
    `B - 1`), as in the authors' reference code:

    - invariance: `mean_{b,d} (z1 - z2)^2`;
    - variance: `mean_d relu(1 - S(z1)) / 2 + mean_d relu(1 - S(z2)) / 2`;
    - covariance: `sum_{i != j} C(z1)_ij^2 / D + sum_{i != j} C(z2)_ij^2 / D`;

    `loss = invariance_weight * invariance + variance_weight * variance +
    covariance_weight * covariance`.

    Args:
        z1: `(B, D)` embeddings of the first view.
        z2: `(B, D)` embeddings of the second view (row `b` pairs with row `b`).
        invariance_weight: float, the weight of the invariance term (25).
        variance_weight: float, the weight of the variance term (25).
        covariance_weight: float, the weight of the covariance term (1).
        epsilon: float, added to the variance before the square root.
        gather_fn: optional callable returning `(gathered, offset)` for a
            `(B, D)` tensor, e.g. `keras_adios.distribute.cross_replica_gather`:
            every term is then computed on the global batch (the same value
            on every replica).

    Returns:
        Scalar float32 loss.

    Example:

    ```python
    import keras
    from keras_adios.objectives.vicreg import vicreg_loss
    z = keras.random.normal((16, 8))
    vicreg_loss(z, z)  # no invariance term: only variance and covariance
    ```
    """
    z1 = ops.cast(z1, "float32")
    z2 = ops.cast(z2, "float32")
    if gather_fn is not None:
        z1, _ = gather_fn(z1)
        z2, _ = gather_fn(z2)
    batch = ops.cast(ops.shape(z1)[0], "float32")
    dim = ops.cast(ops.shape(z1)[1], "float32")
    invariance = ops.mean(ops.square(z1 - z2))

    def variance_and_covariance(z):
        centred = z - ops.mean(z, axis=0, keepdims=True)
        covariance = ops.matmul(ops.transpose(centred), centred) / (batch - 1.0)
        std = ops.sqrt(ops.diagonal(covariance) + epsilon)
        off_diagonal = ops.sum(ops.square(covariance)) - ops.sum(ops.square(ops.diagonal(covariance)))
        return ops.mean(ops.relu(1.0 - std)) / 2.0, off_diagonal / dim

    v1, c1 = variance_and_covariance(z1)
    v2, c2 = variance_and_covariance(z2)
    return (
        invariance_weight * invariance
        + variance_weight * (v1 + v2)
        + covariance_weight * (c1 + c2)
    )


@keras.saving.register_keras_serializable(package="keras_adios")
class VICReg(Objective):
    """VICReg objective between x1 and each masked x2 (not in the ADIOS paper).

    Expander: `Linear -> BN -> ReLU -> Linear -> BN -> ReLU -> Linear`, as in
    VICReg (Bardes, Ponce and LeCun, 2022, https://arxiv.org/abs/2105.04906).
    With masks, the loss of mask `n` is `vicreg_loss(g(f(x1)),
    g(f(x2 * (1 - m_n))))`; the masker maximises it like the other
    objectives' losses. The variance and covariance terms are statistics of
    the batch: under a distribution strategy they use the whole global
    batch (`keras_adios.distribute.cross_replica_gather`, an all-gather
    whose gradient sums over replicas), so several replicas train exactly as
    one device on the global batch; set `cross_replica_statistics=False` to
    use each replica's own batch.

    This file is the whole objective: it shows what a new objective needs
    (heads in `build`, an `Embedding` from `call`, one `loss`, its config).

    Args:
        projection_dim: int, output size of the expander (8192 in VICReg).
        hidden_dim: int, hidden size of the expander (8192 in VICReg).
        invariance_weight: float >= 0, weight of the invariance term (25).
        variance_weight: float >= 0, weight of the variance term (25).
        covariance_weight: float >= 0, weight of the covariance term (1).
        cross_replica_statistics: bool, compute the terms on the global
            batch under a distribution strategy (default).
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    import keras, keras_adios
    objective = keras_adios.objectives.VICReg(projection_dim=16, hidden_dim=32)
    e1 = objective(keras.random.normal((8, 64)))  # an Embedding; builds the expander
    e2 = objective(keras.random.normal((8, 64)))
    loss = objective.loss(e1, None, None, e2)
    ```
    """

    def __init__(
        self,
        projection_dim=2048,
        hidden_dim=2048,
        invariance_weight=25.0,
        variance_weight=25.0,
        covariance_weight=1.0,
        cross_replica_statistics=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.set_head_sizes(projection_dim, hidden_dim)
        self.invariance_weight = validation.check_number(invariance_weight, "invariance_weight", minimum=0.0)
        self.variance_weight = validation.check_number(variance_weight, "variance_weight", minimum=0.0)
        self.covariance_weight = validation.check_number(covariance_weight, "covariance_weight", minimum=0.0)
        self.cross_replica_statistics = validation.check_bool(
            cross_replica_statistics, "cross_replica_statistics"
        )

    def build(self, input_shape):
        self.projector = mlp_head(
            [self.hidden_dim, self.hidden_dim, self.projection_dim], batch_norm=True, name="projector"
        )
        self.projector.build(input_shape)

    def call(self, features):
        return Embedding(features, projection=self.projector(features))

    def loss(self, clean1, clean2, masked1, masked2):
        return vicreg_loss(
            clean1.projection,
            masked2.projection,
            self.invariance_weight,
            self.variance_weight,
            self.covariance_weight,
            gather_fn=cross_replica_gather if self.cross_replica_statistics else None,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "invariance_weight": self.invariance_weight,
                "variance_weight": self.variance_weight,
                "covariance_weight": self.covariance_weight,
                "cross_replica_statistics": self.cross_replica_statistics,
            }
        )
        return config
