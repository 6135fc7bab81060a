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

    Args:
        optimizers: dict mapping a name to a `keras.optimizers.Optimizer`.
        name: str, the group's name.

    Example:

    ```python
    group = keras_adios.trainers.OptimizerGroup(
        {"encoder": keras.optimizers.SGD(0.1), "masker": keras.optimizers.SGD(0.1)}
    )
    ```
    """

    def __init__(self, optimizers, name="optimizer_group", **kwargs):
        kwargs.pop("learning_rate", None)
        super().__init__(learning_rate=0.0, name=name, **kwargs)
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
        self.built = True

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
