"""Keras' BatchNormalization, with `synchronized=True` on PyTorch process groups too."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_adios")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose `synchronized=True` also works on PyTorch.

    Identical to Keras' layer (same arguments, weights and numbers) except
    that `synchronized=True` is accepted on the PyTorch backend: inside a
    `torch.distributed` process group
    (`keras_adios.distribute.torch_distributed`), the training-time batch
    mean and variance are computed over the global batch, from per-process
    sums and sums of squares all-reduced with their gradient, as PyTorch's
    `SyncBatchNorm`; outside a group it is the plain layer. On TensorFlow
    `synchronized=True` is Keras' own (`tf.distribute`); JAX has no use for it
    (`DataParallel` sees the global batch) and refuses it, as Keras does.
    The heads of the objectives and the ResNet encoders use this layer;
    `keras_adios.distribute.use_sync_batchnorm(model)` switches it on.

    Args:
        synchronized: bool. Global batch statistics under distribution.
            Defaults to `False`.
        **kwargs: the arguments of `keras.layers.BatchNormalization`.

    Example:

    ```python
    import numpy as np
    import keras_adios

    bn = keras_adios.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    bn(np.ones((4, 3), "float32"), training=True).shape  # (4, 3)
    ```
    """

    def __init__(self, synchronized=False, **kwargs):
        torch_sync = bool(synchronized) and keras.backend.backend() == "torch"
        super().__init__(synchronized=bool(synchronized) and not torch_sync, **kwargs)
        self.synchronized = bool(synchronized)

    def _moments(self, inputs, mask):
        if not (self.synchronized and mask is None and keras.backend.backend() == "torch"):
            return super()._moments(inputs, mask)
        from keras_adios.distribute import torch_distributed

        if not torch_distributed.is_active():
            return ops.moments(inputs, axes=self._reduction_axes)
        axes = self._reduction_axes
        count = math.prod(int(ops.shape(inputs)[a]) for a in axes)
        total, total_sq, total_count = torch_distributed.all_reduce_sum_differentiable([
            ops.sum(inputs, axes), ops.sum(ops.square(inputs), axes),
            ops.convert_to_tensor([float(count)], dtype=inputs.dtype),
        ])
        mean = total / total_count
        variance = ops.maximum(total_sq / total_count - ops.square(mean), 0.0)
        return mean, variance
