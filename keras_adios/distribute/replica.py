"""Per-replica helpers for code that runs inside a training step.

Public helpers that the ADIOS step and the objectives call explicitly. Every
function here is a no-op (identity, 1, 0, ...) unless it runs inside a
`tf.distribute` replica context with more than one replica in sync, or on
the PyTorch backend in a `torch.distributed` process group of more than one
process (`keras_adios.distribute.torch_distributed`: each process is a
replica). On JAX (`keras.distribution.DataParallel`) the jitted step sees the
global batch and XLA SPMD inserts the collectives, so nothing needs to be
done. TensorFlow and PyTorch are imported lazily, only on their backends.
"""

import keras


def _tf():
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf


def _torch():
    """`torch_distributed` when a multi-process PyTorch group is active, else None."""
    if keras.backend.backend() != "torch":
        return None
    from keras_adios.distribute import torch_distributed

    return torch_distributed if torch_distributed.is_active() else None


def replica_context():
    """The active `tf.distribute.ReplicaContext` when it has >1 replica, else None.

    Returns `None` on JAX/PyTorch, in a cross-replica context, and under the
    default (single-device) strategy.
    """
    tf = _tf()
    if tf is None:
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context


def num_replicas_in_sync():
    """Number of replicas the current step is split over (1 outside a strategy).

    Returns:
        Python int.
    """
    torch_dist = _torch()
    if torch_dist is not None:
        return torch_dist.world_size()
    context = replica_context()
    return 1 if context is None else int(context.num_replicas_in_sync)


def replica_id():
    """Id of the current replica in its sync group (0 outside a strategy).

    Returns:
        Python int 0, or an int32 scalar tensor inside a replica context.
    """
    torch_dist = _torch()
    if torch_dist is not None:
        return torch_dist.rank()
    context = replica_context()
    if context is None:
        return 0
    return context.replica_id_in_sync_group


def scale_loss_for_gradients(loss):
    """Divides a local-batch mean loss by the number of replicas in sync.

    The TensorFlow optimizers SUM-all-reduce gradients across replicas, so a
    loss that is a mean over each replica's batch must be divided by the
    replica count for the gradients to equal those of the global-batch mean
    (what one device computes). Keras only does this for built-in `Loss`
    objects, so ADIOS' custom losses need it explicitly.

    Args:
        loss: scalar tensor, a mean over the local batch.

    Returns:
        `loss / num_replicas_in_sync` inside a multi-replica context, else
        `loss` unchanged.
    """
    replicas = num_replicas_in_sync()
    if replicas == 1:
        return loss
    return loss / float(replicas)


def cross_replica_gather(z):
    """All-gathers `z` along the batch axis; the `gather_fn` of `nt_xent`.

    Uses `tf.distribute.ReplicaContext.all_gather`, whose gradient is the
    all-reduced (SUM) upstream gradient sliced to this replica's rows, so
    each replica's embeddings receive the gradients of every replica's loss
    terms that used them as negatives. Replicas may hold different batch
    sizes (the last, partial batch of a `MirroredStrategy` epoch): the offset
    is read from the gathered sizes. All shapes stay static when the local
    batch is static (TPU / `drop_remainder=True`).

    Args:
        z: `(B, D)` local tensor.

    Returns:
        `(gathered, offset)`: the `(R * B, D)` global tensor in replica order
        and this replica's first row in it (a scalar int32 tensor). Outside a
        multi-replica context, `(z, 0)`.

    Example:

    ```python
    loss = keras_adios.losses.nt_xent(
        z1, z2, 0.2, gather_fn=keras_adios.distribute.cross_replica_gather
    )
    ```
    """
    torch_dist = _torch()
    if torch_dist is not None:
        return torch_dist.all_gather(z)
    context = replica_context()
    if context is None:
        return z, 0
    tf = _tf()
    gathered = context.all_gather(z, axis=0)
    sizes = context.all_gather(tf.shape(z)[:1], axis=0)
    replicas = context.num_replicas_in_sync
    before = tf.range(replicas) < tf.cast(context.replica_id_in_sync_group, "int32")
    offset = tf.reduce_sum(tf.where(before, sizes, tf.zeros_like(sizes)))
    return gathered, offset


def cross_replica_mean(value, weight):
    """Weighted mean of a per-replica statistic over the global batch.

    Args:
        value: tensor, a statistic averaged over this replica's batch (e.g.
            per-mask coverage).
        weight: scalar, this replica's batch size.

    Returns:
        `sum_r weight_r * value_r / sum_r weight_r` in a multi-replica
        context, else `value`.
    """
    torch_dist = _torch()
    if torch_dist is not None:
        weight = keras.ops.cast(weight, value.dtype)
        total, count = torch_dist.all_reduce_sum([value * weight, keras.ops.reshape(weight, (1,))])
        return total / count[0]
    context = replica_context()
    if context is None:
        return value
    tf = _tf()
    weight = tf.cast(weight, value.dtype)
    total, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [value * weight, weight])
    return total / count


def replica_seed(seed_generator):
    """A seed for `keras.random` that differs on every replica.

    A `keras.random.SeedGenerator` is one (mirrored) variable, so inside a
    replica context every replica would read the same state and draw the same
    numbers. This folds the replica id into the generator's next seed with
    `tf.random.experimental.stateless_fold_in`.

    Args:
        seed_generator: a `keras.random.SeedGenerator`.

    Returns:
        `seed_generator` itself outside a multi-replica context, else a
        one-shot seed (a `SeedGenerator` whose `next()` is a `(2,)` tensor)
        unique to this replica and step.
    """
    torch_dist = _torch()
    if torch_dist is not None:
        seed = seed_generator.next()
        offset = keras.ops.convert_to_tensor([0, 1_000_003 * torch_dist.rank()], dtype=seed.dtype)
        return _FixedSeed(seed + offset)
    context = replica_context()
    if context is None:
        return seed_generator
    tf = _tf()
    seed = seed_generator.next()
    folded = tf.random.experimental.stateless_fold_in(
        tf.cast(seed, "int64"), tf.cast(context.replica_id_in_sync_group, "int64")
    )
    return _FixedSeed(tf.cast(folded, seed.dtype))


class _FixedSeed(keras.random.SeedGenerator):
    """A one-shot seed tensor in `SeedGenerator` clothing.

    `keras.random` ops accept only ints and `SeedGenerator`s, not seed
    tensors; this wrapper holds no variable (the base `__init__`, which
    creates one, is deliberately not called) and `next()` returns its tensor.
    """

    def __init__(self, seed):  # noqa: D107 - see the class docstring
        self._seed = seed

    def next(self, ordered=True):
        return self._seed


def use_sync_batchnorm(model):
    """Switches every `BatchNormalization` in `model` to synchronised statistics.

    Sets `synchronized=True` on each `keras.layers.BatchNormalization` found
    in `model` (recursively, including an ADIOS objective's heads and BYOL's
    target network), so that under a `tf.distribute` strategy batch statistics
    are computed over the global batch, as on one device (three SUM
    all-reduces per layer). The flag is saved in the layers' configs.

    TensorFlow (tf.distribute) and PyTorch (a `torch.distributed` group, for
    `keras_adios.layers.BatchNormalization` layers: the objectives' heads and
    the ResNet encoders use it). On JAX, `keras.distribution.DataParallel`
    already computes global statistics, so this raises `ValueError` there.

    Args:
        model: a `keras.layers.Layer` (e.g. a `keras_adios.ADIOS`).

    Returns:
        The number of layers switched.

    Example:

    ```python
    with strategy.scope():
        model = keras_adios.ADIOS(encoder, masker, objective="byol")
        keras_adios.distribute.use_sync_batchnorm(model)
    ```
    """
    backend = keras.backend.backend()
    if backend == "jax":
        raise ValueError(
            "Synchronised BatchNorm is for tf.distribute (TensorFlow) and torch.distributed "
            "(PyTorch). On JAX, keras.distribution.DataParallel already uses global batch "
            f"statistics. Received: backend={backend!r}"
        )
    from keras_adios.layers.batch_normalization import BatchNormalization

    layers = [
        layer for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if backend == "torch":
        plain = [layer.name for layer in layers if not isinstance(layer, BatchNormalization)]
        if plain:
            raise ValueError(
                "On PyTorch only keras_adios.layers.BatchNormalization can synchronise its "
                "statistics (Keras' own layer cannot there); these layers are "
                f"keras.layers.BatchNormalization: {plain}. Build them with "
                "keras_adios.layers.BatchNormalization. Received: backend='torch'"
            )
    for layer in layers:
        layer.synchronized = True
    return len(layers)


def apply_multi_worker_workaround(model):
    """Applies the Keras 3.15 `MultiWorkerMirroredStrategy` workaround if needed.

    A no-op unless the backend is TensorFlow and `model`'s strategy is a
    multi-worker `MultiWorkerMirroredStrategy`; then
    `keras_adios.distribute.multi_worker_patch.apply(model)` (see that
    module). `ADIOS.compile` calls it.

    Args:
        model: a `keras.Model`.

    Returns:
        Whether the workaround was applied.
    """
    if _tf() is None:
        return False
    from keras_adios.distribute import multi_worker_patch

    if not multi_worker_patch.is_multi_worker(model.distribute_strategy):
        return False
    multi_worker_patch.apply(model)
    return True
