"""Callback giving BYOL's momentum schedule its length from `fit`."""

import keras


class MomentumSchedule(keras.callbacks.Callback):
    """Sets the length `K` of BYOL's EMA momentum schedule when `fit` starts.

    BYOL's target network follows the online one with momentum
    `tau_k = final - (final - base) * (cos(pi * k / K) + 1) / 2`, which needs
    the number of training steps `K`. In `on_train_begin` this callback reads
    `epochs * steps` from `fit`'s parameters (`self.params`) and passes it to
    `model.objective.set_total_steps`, unless the objective was given
    `total_steps` itself. With another objective it does nothing.

    Example:

    ```python
    import keras, keras_adios
    encoder = keras_adios.encoders.SmallResNet(input_shape=(16, 16, 3), widths=(8, 16))
    model = keras_adios.ADIOS(encoder, objective=keras_adios.objectives.BYOL(
        projection_dim=8, hidden_dim=16, predictor_hidden_dim=16))
    model.compile()
    views = (keras.random.normal((8, 16, 16, 3)), keras.random.normal((8, 16, 16, 3)))
    model.fit(views, batch_size=4, epochs=3, verbose=0,
              callbacks=[keras_adios.callbacks.MomentumSchedule()])
    model.objective.schedule_steps  # 6.0 = 3 epochs x 2 steps
    ```
    """

    def on_train_begin(self, logs=None):
        from keras_adios.objectives.byol import BYOL

        objective = getattr(self.model, "objective", None)
        if not isinstance(objective, BYOL):
            return
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        if not epochs or not steps:
            raise ValueError(
                "MomentumSchedule needs the number of training steps, which fit "
                "could not infer from this input (e.g. an infinite dataset). Pass "
                f"`steps_per_epoch` to fit or `total_steps` to BYOL. Received: "
                f"epochs={epochs}, steps={steps}"
            )
        objective.set_total_steps(int(epochs) * int(steps))
