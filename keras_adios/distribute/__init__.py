"""Distributed ADIOS training: tf.distribute strategies, JAX DataParallel, torch.distributed.

Distribution changes the speed, never the maths: one step on R replicas
updates the weights exactly as one step on one device with the same global
batch (tested in `tests/distribute/`).

**TensorFlow (`tf.distribute`).** Create, compile and fit the model under
`strategy.scope()`; `get_strategy()` picks TPU > several GPUs > default.
`ADIOS` then

- divides every loss it differentiates (SSL loss, masker objective, probe
  cross-entropy; all means over the local batch) by the number of replicas,
  because the optimizers SUM-all-reduce gradients;
- reports global-batch metrics: its trackers are `keras.metrics.Mean`s whose
  variables are SUM-aggregated across replicas; mask coverages are averaged
  over the global batch before their min/max are taken;
- SimCLR takes its negatives from the global batch by calling
  `cross_replica_gather` (an all-gather with a correct gradient) itself;
  `SimCLR(cross_replica_negatives=False)` keeps per-replica negatives.
  Any objective that needs global-batch statistics does the same;
- draws ADIOS-s mask slots independently on every replica (the replica id is
  folded into the seed);
- with `use_sync_batchnorm(model)` (or `ResNet18(norm="sync_batch")`) uses
  global BatchNorm statistics. Without it, BatchNorm (e.g. in BYOL/SimSiam
  heads) normalises with each replica's statistics, as per-GPU BN does in the
  original PyTorch code; and because Keras 3 creates the moving mean/variance
  with `aggregation="none"`, each replica (and each worker) then keeps its own
  moving statistics: a checkpoint holds replica 0's. Trainable weights are
  identical on all replicas either way. Use synchronised BatchNorm when the
  moving statistics matter (evaluation with BatchNorm encoders).

TPU: use `drop_remainder=True` batches (static shapes); `jit_compile=True`
and `steps_per_execution` are supported. See `examples/tpu_pretrain.py`.

**Multi-worker recipe (`MultiWorkerMirroredStrategy`).** Run the same script
on every worker with a `TF_CONFIG` that lists all workers and this worker's
index, e.g. on two machines:

```
# machine A (chief)
TF_CONFIG='{"cluster": {"worker": ["hostA:12345", "hostB:12345"]},
            "task": {"type": "worker", "index": 0}}' python train.py
# machine B
TF_CONFIG='{"cluster": {"worker": ["hostA:12345", "hostB:12345"]},
            "task": {"type": "worker", "index": 1}}' python train.py
```

and in `train.py`:

```python
strategy = keras_adios.distribute.get_strategy(multi_worker=True)  # first!
with strategy.scope():
    model = keras_adios.ADIOS(...)
    model.compile(...)           # applies the Keras 3.15 workaround
model.fit(dataset, ...)          # dataset: per-worker batch = global / workers
# Every worker saves (saving may synchronise); only the chief keeps its file.
path = out if keras_adios.distribute.is_chief() else tmp_dir + "/w.weights.h5"
model.save_weights(path)
```

The strategy must be created before any other TensorFlow op. Keras 3.15's
`fit` is broken under this strategy (keras-team/keras#20585); the narrow
workaround is in `keras_adios.distribute.multi_worker_patch`. See
`examples/multi_worker_pretrain.py`.

**JAX (`keras.distribution`).** `keras.distribution.set_distribution(
keras.distribution.DataParallel())` before building the model: the jitted
step sees the sharded global batch, so SimCLR negatives, BatchNorm statistics
and the loss are global with no extra code.

**PyTorch (`torch.distributed`).** One process per device, launched with
`torchrun`: `torch_distributed.init_process_group()`, the same initial
weights (`broadcast_weights`), the per-process batch and
`torch_distributed.shard(dataset)`. The step sums the gradients across
processes, SimCLR gathers its negatives with a gradient-correct all-gather,
coverages are global and ADIOS-s draws per process; two processes equal one
on the global batch (tested). BatchNorm uses each process' statistics
unless `use_sync_batchnorm(model)` switches the package's
`keras_adios.layers.BatchNormalization` layers (heads, ResNet encoders) to
global statistics. See `keras_adios.distribute.torch_distributed` and
`examples/torch_multiprocess_pretrain.py`.
"""

import json
import os

from keras_adios.distribute.replica import apply_multi_worker_workaround
from keras_adios.distribute.replica import cross_replica_gather
from keras_adios.distribute.replica import cross_replica_mean
from keras_adios.distribute.replica import num_replicas_in_sync
from keras_adios.distribute.replica import replica_id
from keras_adios.distribute.replica import replica_seed
from keras_adios.distribute.replica import scale_loss_for_gradients
from keras_adios.distribute.replica import use_sync_batchnorm
from keras_adios.distribute.strategy import get_strategy
from keras_adios.distribute import torch_distributed


def is_chief():
    """Whether this process is the chief of a `TF_CONFIG` cluster.

    The chief is the task of type "chief", or worker 0 when the cluster has no
    "chief" task; any process without `TF_CONFIG` is the chief.

    Returns:
        bool.
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind is None or kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})


__all__ = [
    "apply_multi_worker_workaround",
    "cross_replica_gather",
    "cross_replica_mean",
    "get_strategy",
    "is_chief",
    "num_replicas_in_sync",
    "replica_id",
    "replica_seed",
    "scale_loss_for_gradients",
    "torch_distributed",
    "use_sync_batchnorm",
]
