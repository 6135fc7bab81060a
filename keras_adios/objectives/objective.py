"""The objective contract: what `keras_adios.ADIOS` expects of an SSL objective."""

from typing import Any
from typing import NamedTuple

import keras

from keras_adios.utils import validation
from keras import ops


class Embedding(NamedTuple):
    """One view through the encoder and an objective's heads.

    Fields an objective does not use stay `None`.

    Attributes:
        features: `(B, D)` encoder features (the online probe reads these).
        projection: `(B, P)` projector output `g(f(x))`.
        prediction: `(B, P)` predictor output `q(g(f(x)))` (BYOL, SimSiam).
        target: `(B, P)` target-network projection under stop-gradient (BYOL).
    """

    features: Any
    projection: Any = None
    prediction: Any = None
    target: Any = None

    def stop_gradient(self):
        """The same embedding with every tensor under `ops.stop_gradient`."""
        return Embedding(*(None if t is None else ops.stop_gradient(t) for t in self))


@keras.saving.register_keras_serializable(package="keras_adios")
class Objective(keras.layers.Layer):
    """Base class of the self-supervised objectives `keras_adios.ADIOS` trains.

    An objective owns the heads on top of the encoder (projector, predictor,
    a target network) and defines the SSL loss between two views. ADIOS uses
    exactly this contract, and nothing else, in its training step:

    - `attach_encoder(encoder)`: called once, before `build`. The default does
      nothing; BYOL copies the encoder into its target network here.
    - `build(input_shape)`: creates the heads for encoder features of shape
      `input_shape = (batch, D)` (the Keras layer lifecycle: also triggered
      by the first call).
    - `call(features)`: the heads on `(B, D)` features, an `Embedding`.
    - `encode(encoder, images, training)`: one view through the encoder and
      the heads, an `Embedding`. The default is `self(encoder(images))`;
      override it to add branches that need the images (BYOL's target).
    - `loss(clean1, clean2, masked1, masked2)`: the SSL loss of one mask, a
      float32 scalar averaged over the batch. `clean1` embeds the unmasked
      first view `x1`; `masked2` embeds `x2 * (1 - m_n)`. With
      `masks_both_views = True` (SimSiam) the masker also occludes `x1`:
      `masked1` embeds `x1 * (1 - m1_n)` and `clean2` the unmasked `x2`;
      otherwise both are `None`. The plain method (no masker) is the same
      call with the unmasked views as the "masked" ones:
      `loss(e1, e2, e1, e2)`. ADIOS sums `loss` over the N masks.
    - `update_targets(encoder, step)`: called once per training step after
      both updates (BYOL's moving-average target); the default does nothing.
    - `online_variables`: what the encoder optimizer updates (all trainable
      variables, less a target network's).

    Under a `tf.distribute` strategy the loss runs per replica on the local
    batch. An objective that needs statistics of the global batch gathers
    them itself with `keras_adios.distribute.cross_replica_gather`, which is
    the identity outside a replica context (SimCLR's negatives, VICReg's
    variance and covariance). ADIOS divides the loss by the number of
    replicas before differentiating, so a loss that is a mean over the local
    batch (or the same global value on every replica) gets the gradients of
    one device. `tests/harness.py` has the objective-contract test every
    objective in this package passes.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments (e.g. `name`).

    Example:

    ```python
    import keras
    import keras_adios
    from keras_adios.objectives import Embedding, Objective

    class CosineObjective(Objective):
        # 1 - cos between the projections of x1 and of each masked x2.
        def build(self, input_shape):
            self.projector = keras.layers.Dense(16)
            self.projector.build(input_shape)

        def call(self, features):
            return Embedding(features, projection=self.projector(features))

        def loss(self, clean1, clean2, masked1, masked2):
            return keras_adios.losses.byol_loss(masked2.projection, clean1.projection) / 2

    objective = CosineObjective()
    embedding = objective(keras.random.normal((4, 8)))  # builds the heads
    value = objective.loss(embedding, None, None, embedding)  # ~0
    ```
    """

    #: Whether the masker occludes both views (SimSiam-ADIOS) or only x2.
    masks_both_views = False

    def attach_encoder(self, encoder):
        """Called by ADIOS with the encoder before `build` (default: nothing)."""

    def build(self, input_shape):
        """Creates the heads for features of shape `input_shape = (batch, D)`."""
        self.built = True

    def call(self, features):
        """The heads on encoder features: an `Embedding`."""
        return Embedding(features)

    def encode(self, encoder, images, training=None):
        """`images` through `encoder` and the heads: an `Embedding`."""
        return self(encoder(images, training=training), training=training)

    def loss(self, clean1, clean2, masked1, masked2):
        """The SSL loss of one mask (see the class docstring)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement `loss(clean1, clean2, masked1, masked2)`."
        )

    def set_head_sizes(self, projection_dim, hidden_dim, predictor_hidden_dim=None):
        """Checks the head sizes (positive ints) and keeps them as attributes of the same names.

        For subclasses' constructors; `predictor_hidden_dim` only when the
        objective has a predictor. The sizes set here are part of `get_config`.
        """
        sizes = {"projection_dim": projection_dim, "hidden_dim": hidden_dim}
        if predictor_hidden_dim is not None:
            sizes["predictor_hidden_dim"] = predictor_hidden_dim
        self._head_sizes = {name: validation.check_positive_int(v, name) for name, v in sizes.items()}
        for name, value in self._head_sizes.items():
            setattr(self, name, value)

    def get_config(self):
        config = super().get_config()
        config.update(getattr(self, "_head_sizes", {}))
        return config

    def update_targets(self, encoder, step):
        """Once per training step, after both updates (default: nothing)."""

    @property
    def online_variables(self):
        """Trainable variables updated by the encoder optimizer."""
        return self.trainable_variables

    def get_build_config(self):
        # Built by the model that uses it (`attach_encoder` comes first), not
        # by the loader from a saved shape.
        return None
