"""Base class of the SSL objectives that ADIOS plays its min-max game with."""

import keras


@keras.saving.register_keras_serializable(package="keras_adios")
class Objective(keras.layers.Layer):
    """Base class for a self-supervised objective used by `keras_adios.ADIOS`.

    An objective owns the heads on top of the encoder (projector, predictor,
    BYOL's target network) and computes the SSL loss between the first view
    and a (possibly masked) second view. The split into `reference` (computed
    once per training phase) and `masked_loss` (computed once per mask) is how
    ADIOS avoids re-encoding the unmasked view N times: the original code
    recomputes `f(x1)` inside its loop over masks, which gives the same values.

    Subclasses implement `build_heads`, `reference`, `masked_loss` and
    `unmasked_loss`; objectives with target networks also override
    `update_targets` and `set_total_steps`.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments (e.g. `name`).

    Example:

    ```python
    objective = keras_adios.objectives.SimCLR(temperature=0.2)
    ```
    """

    #: Whether the masker occludes both views (SimSiam-ADIOS) or only x2.
    masks_both_views = False

    def setup(self, encoder, feature_dim):
        """Creates the heads for an encoder with `feature_dim` outputs."""
        self.build_heads(encoder, int(feature_dim))
        self.built = True

    def build(self, input_shape=None):
        # Heads are created by `setup`, which needs the encoder.
        self.built = True

    def build_heads(self, encoder, feature_dim):
        raise NotImplementedError

    @property
    def online_variables(self):
        """Trainable variables updated by the encoder optimizer."""
        return self.trainable_variables

    def reference(self, encoder, x1, x2, training=False):
        """Computes the unmasked branches once; returns a dict of tensors.

        The dict always holds `"features"`, the encoder features of `x1`
        (used by the online linear probe).
        """
        raise NotImplementedError

    def masked_loss(self, encoder, reference, x1_masked, x2_masked, training=False):
        """SSL loss of one mask: `x2_masked = x2 * (1 - m_n)` (and `x1_masked`
        when `masks_both_views`, else `None`)."""
        raise NotImplementedError

    def unmasked_loss(self, encoder, reference, x2, training=False):
        """Loss of the plain method (no masks): the baseline."""
        raise NotImplementedError

    def update_targets(self, encoder, step):
        """Hook run once per training step after both updates (BYOL's EMA)."""

    def set_total_steps(self, total_steps):
        """Hook called by `ADIOS.fit` with the number of training steps."""

    @property
    def needs_total_steps(self):
        return False

    def call(self, inputs):
        raise NotImplementedError(
            f"{self.__class__.__name__} is used through keras_adios.ADIOS; "
            "call `reference`/`masked_loss` rather than the layer itself."
        )
