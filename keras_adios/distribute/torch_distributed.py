"""PyTorch multi-process training (`torch.distributed`, launched with `torchrun`).

Keras 3 has no multi-device support for the PyTorch backend, so keras_adios
brings the data-parallel pieces itself, the way PyTorch DDP and the authors'
code do: one process per device, each with a full copy of the model and its
own shard of every global batch, and

- the gradients of every phase all-reduced (SUM) across processes before the
  optimizers apply them, with each process' losses divided by the number of
  processes, so every process applies the gradient of the global-batch mean;
- SimCLR's negatives (and VICReg's statistics) gathered from every process by
  `keras_adios.distribute.cross_replica_gather`, whose backward sums the
  upstream gradients of every process before taking this process' rows (an
  all-gather whose gradient is only the local slice is the classic bug: the
  negatives then miss the gradients of the other processes' loss terms);
- mask coverages averaged over the global batch; ADIOS-s slots drawn
  independently on every process (the rank folded into the seed);
- BatchNorm (e.g. in the BYOL/SimSiam heads) normalising with each process'
  statistics, as the authors' per-GPU BatchNorm, unless
  `keras_adios.distribute.use_sync_batchnorm(model)` makes the package's
  `keras_adios.layers.BatchNormalization` layers use global statistics (their
  sums all-reduced with gradient, as PyTorch's `SyncBatchNorm`). Weights stay
  identical on all processes.

Everything in `keras_adios.distribute` is a no-op when no process group is
initialised or it has one process, so the same script runs on one device.

Recipe (`examples/torch_multiprocess_pretrain.py` is a complete script):

```
torchrun --nproc_per_node=2 train.py      # gloo on CPU, NCCL on GPUs
```

```python
import keras_adios
from keras_adios.distribute import torch_distributed

rank, world = torch_distributed.init_process_group()   # from torchrun's env
keras.utils.set_random_seed(0)                         # same start everywhere
model = keras_adios.ADIOS(...)          # built: the encoder has an input shape
torch_distributed.broadcast_weights(model)              # rank 0's weights
model.compile(...)
dataset = make_pretrain_dataset(..., batch_size=global_batch // world)
model.fit(torch_distributed.shard(dataset), ...)        # batches r, r + R, ...
```
"""

import functools
import os

import keras


def _dist():
    import torch.distributed as dist

    return dist


def is_active():
    """Whether the PyTorch backend runs in a process group of more than one process."""
    if keras.backend.backend() != "torch":
        return False
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size():
    """Processes in the group (1 when not active)."""
    return _dist().get_world_size() if is_active() else 1


def rank():
    """This process' rank (0 when not active)."""
    return _dist().get_rank() if is_active() else 0


def init_process_group(backend=None):
    """Joins the process group that `torchrun` describes in the environment.

    Args:
        backend: `"gloo"` or `"nccl"`; `None` picks NCCL when CUDA is
            available, else gloo (CPU).

    Returns:
        `(rank, world_size)`. Without torchrun's variables (`RANK`,
        `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`), `(0, 1)` and no group.

    Raises:
        ValueError: the Keras backend is not PyTorch.
    """
    if keras.backend.backend() != "torch":
        raise ValueError(
            "torch_distributed needs the PyTorch backend (KERAS_BACKEND=torch). "
            f"Received: backend={keras.backend.backend()!r}"
        )
    import torch

    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return 0, 1
    dist = _dist()
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), dist.get_world_size()


def all_reduce_sum(tensors):
    """Sums a list of tensors across processes (one flattened all-reduce); returns new, detached tensors."""
    if not is_active() or not tensors:
        return list(tensors)
    import torch

    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    _dist().all_reduce(flat, op=_dist().ReduceOp.SUM)
    out, start = [], 0
    for t in tensors:
        out.append(flat[start : start + t.numel()].view_as(t))
        start += t.numel()
    return out


def all_reduce_sum_differentiable(tensors):
    """Sums tensors across processes with a gradient (the backward sums the gradients too)."""
    if not is_active():
        return list(tensors)
    from torch.distributed.nn import functional as dist_functional

    return [dist_functional.all_reduce(t) for t in tensors]


def all_gather(z):
    """`(gathered, offset)`: `z` from every process along axis 0, gradient-correct.

    The backward all-reduces (SUM) the upstream gradient and returns this
    process' rows, so each row's gradient holds every process' loss terms
    that used it. Every process must hold the same number of rows.
    """
    import torch

    dist = _dist()
    sizes = [torch.zeros(1, dtype=torch.int64, device=z.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([z.shape[0]], dtype=torch.int64, device=z.device))
    if len({int(s) for s in sizes}) != 1:
        raise ValueError(
            "cross_replica_gather on PyTorch needs the same batch size on every process "
            "(use drop_remainder=True batches). Received sizes: "
            f"{[int(s) for s in sizes]}"
        )
    return _all_gather_function().apply(z), dist.get_rank() * z.shape[0]


@functools.lru_cache(maxsize=None)
def _all_gather_function():
    import torch

    class AllGather(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            dist = _dist()
            parts = [torch.empty_like(z) for _ in range(dist.get_world_size())]
            dist.all_gather(parts, z.contiguous())
            ctx.rows = z.shape[0]
            return torch.cat(parts, 0)

        @staticmethod
        def backward(ctx, grad):
            grad = grad.contiguous().clone()
            _dist().all_reduce(grad, op=_dist().ReduceOp.SUM)
            start = _dist().get_rank() * ctx.rows
            return grad[start : start + ctx.rows]

    return AllGather


def broadcast_weights(model, src=0):
    """Copies process `src`'s weights (all variables, optimizer state excluded) to every process.

    Call it on a built model (ADIOS builds itself when its encoder has an
    input shape), before `compile`/`fit`.
    """
    if not model.built:
        raise ValueError(
            "broadcast_weights needs a built model: build it (model.build((None, H, W, C))) first. "
            f"Received: an unbuilt {type(model).__name__}"
        )
    if not is_active():
        return
    for variable in model.weights:
        value = variable.value
        _dist().broadcast(value.data, src=src)


def shard(dataset):
    """This process' share of a batched `tf.data.Dataset`: batches `rank, rank + R, ...`.

    Build the dataset with the per-process batch size (global // world size);
    the R consecutive batches of one step together are the global batch.
    """
    if not is_active():
        return dataset
    return dataset.shard(world_size(), rank())
