"""One optimizer object that owns ADIOS' encoder, masker and probe optimizers."""

import keras


@keras.saving.register_keras_serializable(package="keras_adios")
class OptimizerGroup(keras.optimizers.Optimizer):
    """Holds several named optimizers so that Keras sees a single one.

    `keras_adios.ADIOS.compile` wraps its encoder, masker and probe optimizers
    in an `OptimizerGroup` and passes it to `keras.Model.compile`. Keras
    trainers only carry `model.optimizer.variables` in their state (on JAX the
    jitted step is a pure function of that state), so `variables` here is the
    group's own step counter followed by every member's variables. Members are
    built by the model on their own variable groups; the group never applies
    gradients itself.

    `iterations` counts ADIOS training steps; `learning_rate` reads and sets
    the first member's (the encoder optimizer's) learning rate, so Keras
    callbacks such as `LearningRateScheduler` act on the encoder.

    With `dynamic_loss_scale=True` (what `ADIOS.compile` sets under the
    `mixed_float16` policy) the group also holds one dynamic loss scale for
    the whole step, with the rule of `keras.optimizers.LossScaleOptimizer`:
    the step multiplies each phase's loss by `loss_scale` before
    differentiating and divides the gradients by it; a step whose gradients
    overflow is skipped and halves the scale, and `dynamic_growth_steps`
    finite steps in a row double it. One scale rather than a
    `LossScaleOptimizer` per member, because ADIOS applies its phases with
    different optimizers inside one step and skips the whole step together;
    the update (`update_loss_scale`) is branch-free, so it runs inside a
    jitted JAX step.

    Args:
        optimizers: dict mapping a name to a `keras.optimizers.Optimizer`.
        dynamic_loss_scale: bool, keep a dynamic loss scale (for float16).
        initial_scale: float, the loss scale at the start (Keras' default 2**15).
        dynamic_growth_steps: int, finite steps in a row after which the
            scale doubles.
        name: str, the group's name.

    Example:

    ```python
    group = keras_adios.trainers.OptimizerGroup(
        {"encoder": keras.optimizers.SGD(0.1), "masker": keras.optimizers.SGD(0.1)}
    )
    ```
    """

    def __init__(
        self,
        optimizers,
        dynamic_loss_scale=False,
        initial_scale=2.0**15,
        dynamic_growth_steps=2000,
        name="optimizer_group",
        **kwargs,
    ):
        kwargs.pop("learning_rate", None)
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        if not isinstance(dynamic_loss_scale, bool):
            raise ValueError(f"`dynamic_loss_scale` must be a bool. Received: {dynamic_loss_scale!r}")
        if not isinstance(initial_scale, (int, float)) or not initial_scale > 0:
            raise ValueError(f"`initial_scale` must be a positive number. Received: {initial_scale!r}")
        if not isinstance(dynamic_growth_steps, int) or dynamic_growth_steps < 1:
            raise ValueError(
                f"`dynamic_growth_steps` must be a positive int. Received: {dynamic_growth_steps!r}"
            )
        self.dynamic_loss_scale = dynamic_loss_scale
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = dynamic_growth_steps
        self._scale_variables = []
        if not isinstance(optimizers, dict) or not optimizers:
            raise ValueError(
                "`optimizers` must be a non-empty dict of name -> optimizer. "
                f"Received: optimizers={optimizers!r}"
            )
        members = {}
        for key, optimizer in optimizers.items():
            optimizer = keras.optimizers.get(optimizer)
            if not isinstance(optimizer, keras.optimizers.Optimizer):
                raise ValueError(
                    f"Optimizer {key!r} must be a keras.optimizers.Optimizer. "
                    f"Received: {optimizer!r}"
                )
            members[key] = optimizer
        self._members = members
        self._member_names = list(members)

    def __getitem__(self, key):
        return self._members[key]

    def __contains__(self, key):
        return key in self._members

    @property
    def members(self):
        return dict(self._members)

    @property
    def variables(self):
        variables = self._variables[:]
        for key in self._member_names:
            variables.extend(self._members[key].variables)
        return variables

    def build(self, var_list=None):
        # Members are built by ADIOS.compile on their own variable groups.
        if self.dynamic_loss_scale and not self._scale_variables:
            self._scale_variables = [
                self.add_variable(
                    shape=(), dtype="float32", aggregation="none", name="dynamic_scale",
                    initializer=keras.initializers.Constant(self.initial_scale),
                ),
                self.add_variable(
                    shape=(), dtype="int", aggregation="none", name="step_counter",
                    initializer="zeros",
                ),
            ]
        self.built = True

    @property
    def loss_scale(self):
        """The current loss scale (a scalar variable), or None without loss scaling."""
        return self._scale_variables[0] if self._scale_variables else None

    @property
    def loss_scale_variables(self):
        """`[scale, finite-step counter]` (empty without loss scaling)."""
        return list(self._scale_variables)

    def update_loss_scale(self, finite):
        """Halves the scale after an overflow, doubles it after `dynamic_growth_steps` finite steps."""
        scale, counter = self._scale_variables
        counter = keras.ops.convert_to_tensor(counter)
        count = keras.ops.where(finite, counter + 1, keras.ops.zeros_like(counter))
        grow = keras.ops.greater_equal(count, self.dynamic_growth_steps)
        factor = keras.ops.where(finite, keras.ops.where(grow, 2.0, 1.0), 0.5)
        scale.assign(scale * factor)
        self._scale_variables[1].assign(keras.ops.where(grow, keras.ops.zeros_like(count), count))

    @property
    def learning_rate(self):
        return self._members[self._member_names[0]].learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._members[self._member_names[0]].learning_rate = value

    def apply(self, grads, trainable_variables=None):
        raise NotImplementedError(
            "OptimizerGroup does not apply gradients itself; use its members, "
            f"e.g. group['encoder']. Members: {self._member_names}"
        )

    def get_config(self):
        return {
            "name": self.name,
            "dynamic_loss_scale": self.dynamic_loss_scale,
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
            "optimizers": {
                k: keras.saving.serialize_keras_object(v)
                for k, v in self._members.items()
            },
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizers"] = {
            k: keras.saving.deserialize_keras_object(v, custom_objects=custom_objects)
            for k, v in config["optimizers"].items()
        }
        return cls(**config)
