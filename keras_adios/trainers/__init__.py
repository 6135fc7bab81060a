"""Training plumbing: the per-backend gradient code and the optimizer group.

The ADIOS step itself (`keras_adios.models.ADIOS._adios_train_step`) is
written once with `keras.ops`; each backend module here only supplies two
gradient primitives and the `train_step`/`test_step` signature its Keras
trainer expects:

- `_value_and_grad(loss_fn, variables, inputs=())`: calls `loss_fn(*inputs)`,
  returns `(loss, aux, grads)` with the gradients of the (replica-scaled)
  loss for `variables` followed by those for the tensors `inputs`;
- `_vjp(forward_fn, variables)`: calls `forward_fn()` (a list of tensors)
  once, returns `(outputs, pullback)`; `pullback(cotangents)` gives the
  gradients for `variables` of `sum(cotangent * output)`, later in the step;
- `_after(tensors, dependencies)`: `tensors` unchanged, but whatever uses them
  runs after `dependencies` are computed (the lean encoder phase: one masked
  view's forward after the previous view's backward, so that their graphs are
  never alive together). Eager PyTorch needs nothing; TensorFlow graphs get
  control dependencies, XLA an optimization barrier.
"""

import keras

from keras_adios.trainers.optimizer_group import OptimizerGroup


def step_mixin():
    """Returns the gradient-plumbing mixin class for the current backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from keras_adios.trainers.tensorflow_trainer import TensorFlowStepMixin

        return TensorFlowStepMixin
    if backend == "jax":
        from keras_adios.trainers.jax_trainer import JAXStepMixin

        return JAXStepMixin
    if backend == "torch":
        from keras_adios.trainers.torch_trainer import TorchStepMixin

        return TorchStepMixin
    raise ValueError(
        "keras_adios trains on the 'tensorflow', 'jax' and 'torch' Keras "
        f"backends. Received: KERAS_BACKEND={backend!r}"
    )
