"""SimCLR objective (NT-Xent), as in the authors' SimCLR-ADIOS."""

import keras

from keras_adios import losses
from keras_adios.distribute.replica import cross_replica_gather
from keras_adios.objectives.heads import mlp_head
from keras_adios.objectives.objective import Embedding
from keras_adios.objectives.objective import Objective
from keras_adios.utils import validation


@keras.saving.register_keras_serializable(package="keras_adios")
class SimCLR(Objective):
    """SimCLR objective: NT-Xent over 2B anchors between x1 and each masked x2.

    Projector: `Linear(D, hidden) -> ReLU -> Linear(hidden, output_dim)` (no
    BatchNorm), as in `simclr_adios.py`. With masks, the loss of mask `n` is
    `nt_xent(g(f(x1)), g(f(x2 * (1 - m_n))))` (Chen et al., 2020,
    https://arxiv.org/abs/2002.05709).

    Under a distribution strategy the negatives come from the whole global
    batch (`keras_adios.distribute.cross_replica_gather`, an all-gather with
    a correct gradient; the identity on one device or on JAX, where the
    jitted step already sees the global batch).

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
    import keras, keras_adios
    objective = keras_adios.objectives.SimCLR(temperature=0.2, hidden_dim=32, projection_dim=16)
    e1 = objective(keras.random.normal((8, 64)))  # an Embedding; builds the projector
    e2 = objective(keras.random.normal((8, 64)))
    loss = objective.loss(e1, None, None, e2)     # NT-Xent between the two
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
        self.temperature = validation.check_number(temperature, "temperature", minimum=0.0, strict=True)
        self.set_head_sizes(projection_dim, hidden_dim)
        self.cross_replica_negatives = validation.check_bool(
            cross_replica_negatives, "cross_replica_negatives"
        )

    def build(self, input_shape):
        self.projector = mlp_head(
            [self.hidden_dim, self.projection_dim], batch_norm=False, name="projector"
        )
        self.projector.build(input_shape)

    def call(self, features):
        return Embedding(features, projection=self.projector(features))

    def loss(self, clean1, clean2, masked1, masked2):
        gather = cross_replica_gather if self.cross_replica_negatives else None
        return losses.nt_xent(clean1.projection, masked2.projection, self.temperature, gather_fn=gather)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "temperature": self.temperature,
                "cross_replica_negatives": self.cross_replica_negatives,
            }
        )
        return config
