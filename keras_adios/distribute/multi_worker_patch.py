"""Workaround for `MultiWorkerMirroredStrategy` + `model.fit` in Keras 3.15.

Keras 3.15.1's TensorFlow trainer cannot run `fit` under a multi-worker
`tf.distribute.MultiWorkerMirroredStrategy` (keras-team/keras#20585,
tensorflow/tensorflow#72388), for any model:

1. `TensorFlowTrainer._maybe_symbolic_build` peeks at the first distributed
   batch and calls `strategy.reduce("MEAN", batch, axis=None)` on the whole
   nested structure: `ValueError: Attempt to convert a value (PerReplica:...)
   with an unsupported type ... to a Tensor`.
2. `keras.src.backend.tensorflow.trainer.reduce_per_replica` reduces the
   step's logs with `strategy.reduce("MEAN", v, axis=0)`, which fails on
   scalar logs: `Invalid reduction dimension 0 for input with 0 dimensions`.

`apply(model)` fixes both, narrowly:

1. On the given model instance only, `_maybe_symbolic_build` takes the first
   local replica's value of each leaf of the peeked batch (it only needs a
   batch of the right structure, shapes and dtypes).
2. `reduce_per_replica` is replaced, in that Keras module only, by a wrapper
   that, for a multi-worker strategy and a "mean"/"auto" reduction, reduces
   each leaf with `axis=None` (a mean over replicas, which is what a scalar
   log needs; ADIOS' logs are synchronised `Mean` metrics so every replica
   already holds the global value). Every other call goes to the original.

Both touch private Keras API; `ADIOS.compile` applies them only when the
model's strategy is a multi-worker `MultiWorkerMirroredStrategy`.
`tests/distribute/test_multi_worker.py` checks that the unpatched Keras still
fails (so the workaround can be deleted when it stops being needed) and that
two patched workers train to identical weights.
"""

import types

import tensorflow as tf
from keras.src.backend.tensorflow import trainer as _tf_trainer

_ORIGINAL_REDUCE_PER_REPLICA = _tf_trainer.reduce_per_replica


def is_multi_worker(strategy):
    """Whether `strategy` is a `MultiWorkerMirroredStrategy` spanning >1 worker."""
    return isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) and strategy.extended._in_multi_worker_mode()


def _first_local_value(value):
    if isinstance(value, tf.distribute.DistributedValues):
        return value._values[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    """`TensorFlowTrainer._maybe_symbolic_build` without the nested reduce."""
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        for _, _, it in iterator:
            batch = next(it)
            data_batch = tf.nest.map_structure(_first_local_value, batch)
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    if reduction in ("auto", "mean") and is_multi_worker(strategy):
        return tf.nest.map_structure(
            lambda v: strategy.reduce("MEAN", v, axis=None), values
        )
    return _ORIGINAL_REDUCE_PER_REPLICA(values, strategy, reduction)


def patch_symbolic_build(model):
    """Patch 1 only, on `model` (an instance attribute; the class is untouched)."""
    object.__setattr__(
        model, "_maybe_symbolic_build", types.MethodType(_maybe_symbolic_build, model)
    )


def patch_reduce_per_replica():
    """Patch 2 only (idempotent)."""
    _tf_trainer.reduce_per_replica = _reduce_per_replica


def is_applied(model=None):
    """Whether patch 2 (and patch 1 on `model`, if given) is in place."""
    applied = _tf_trainer.reduce_per_replica is _reduce_per_replica
    if model is not None:
        method = model.__dict__.get("_maybe_symbolic_build")
        applied = applied and getattr(method, "__func__", None) is _maybe_symbolic_build
    return applied


def apply(model):
    """Applies both patches for `model`; see the module docstring.

    Args:
        model: a Keras model trained under a multi-worker
            `MultiWorkerMirroredStrategy`.

    Example:

    ```python
    from keras_adios.distribute import multi_worker_patch
    if multi_worker_patch.is_multi_worker(strategy):
        multi_worker_patch.apply(model)   # ADIOS.compile does this itself
    ```
    """
    patch_symbolic_build(model)
    patch_reduce_per_replica()
