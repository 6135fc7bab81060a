"""SimCLR objective (NT-Xent), as in the authors' SimCLR-ADIOS."""

import keras

from keras_adios import losses
from keras_adios.objectives.heads import check_dims
from keras_adios.objectives.heads import mlp_head
from keras_adios.objectives.objective import Objective


@keras.saving.register_keras_serializable(package="keras_adios")
class SimCLR(Objective):
    """SimCLR objective: NT-Xent over 2B anchors between x1 and each masked x2.

    Projector: `Linear(D, hidden) -> ReLU -> Linear(hidden, output_dim)` (no
    BatchNorm), as in `simclr_adios.py`. With masks, the loss of mask `n` is
    `nt_xent(g(f(x1)), g(f(x2 * (1 - m_n))))` (Chen et al., 2020,
    https://arxiv.org/abs/2002.05709).

    Args:
        temperature: float > 0, the NT-Xent temperature. The authors' scripts
            use 0.2 (their argparse default is 0.1).
        projection_dim: int, output size of the projector (128 in the paper).
        hidden_dim: int, hidden size of the projector (2048 in the paper).
        cross_replica_negatives: bool, under a distribution strategy take
            negatives from the whole global batch (default) rather than from
            each replica's batch only.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    objective = keras_adios.objectives.SimCLR(temperature=0.2)
    z1 = keras.random.normal((8, 128))
    z2 = keras.random.normal((8, 128))
    loss = keras_adios.losses.nt_xent(z1, z2, objective.temperature)
    ```
    """

    def __init__(
        self,
        temperature=0.2,
        projection_dim=128,
        hidden_dim=2048,
        cross_replica_negatives=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not temperature > 0:
            raise ValueError(
                f"`temperature` must be > 0. Received: temperature={temperature}"
            )
        check_dims(projection_dim=projection_dim, hidden_dim=hidden_dim)
        self.temperature = float(temperature)
        self.projection_dim = int(projection_dim)
        self.hidden_dim = int(hidden_dim)
        self.cross_replica_negatives = bool(cross_replica_negatives)
        self.gather_fn = None  # set by ADIOS under a distribution strategy

    def build_heads(self, encoder, feature_dim):
        self.projector = mlp_head(
            [self.hidden_dim, self.projection_dim], batch_norm=False, name="projector"
        )
        self.projector.build((None, feature_dim))

    def _embed(self, encoder, x, training):
        return self.projector(encoder(x, training=training), training=training)

    def _loss(self, z1, z2):
        gather = self.gather_fn if self.cross_replica_negatives else None
        return losses.nt_xent(z1, z2, self.temperature, gather_fn=gather)

    def reference(self, encoder, x1, x2, training=False):
        features = encoder(x1, training=training)
        return {"features": features, "z1": self.projector(features, training=training)}

    def masked_loss(self, encoder, reference, x1_masked, x2_masked, training=False):
        return self._loss(reference["z1"], self._embed(encoder, x2_masked, training))

    def unmasked_loss(self, encoder, reference, x2, training=False):
        return self._loss(reference["z1"], self._embed(encoder, x2, training))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "temperature": self.temperature,
                "projection_dim": self.projection_dim,
                "hidden_dim": self.hidden_dim,
                "cross_replica_negatives": self.cross_replica_negatives,
            }
        )
        return config
