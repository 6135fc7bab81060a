r"""Pretrain ADIOS with PyTorch on several processes (`torch.distributed`, one per device).

Launch with `torchrun`; each process trains a full copy of the model on its
share of every global batch, gradients are summed across processes and
SimCLR's negatives come from the global batch
(`keras_adios.distribute.torch_distributed` says how):

```shell
# 2 processes on this machine (gloo on CPU, NCCL on GPUs)
torchrun --nproc_per_node=2 examples/torch_multiprocess_pretrain.py \
    --dataset=cifar10 --batch_size=256 --epochs=100 --model_dir=runs/torch_ddp
# 2 machines x 4 GPUs: the same on each, with --nnodes=2 --node_rank=<0|1>
#   --master_addr=<host of node 0> --master_port=29500 --nproc_per_node=4
```

`--batch_size` is the global batch (each process gets `batch_size / world`).
Rank 0 writes `encoder.keras` and `masker.keras` to `--model_dir`.

`--smoke` (without torchrun) starts 2 local processes itself on tiny
synthetic data and checks that they end with identical trainable weights.
"""

import os
import subprocess
import sys

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

_DATASET = flags.DEFINE_string("dataset", "shapes32", "A keras_adios.data.load_dataset name.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tensorflow-datasets data_dir.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size (a multiple of the processes).", lower_bound=1)
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Epochs.", lower_bound=1)
_NUM_MASKS = flags.DEFINE_integer("num_masks", 4, "N.", lower_bound=2)
_LR = flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of the encoder and heads.")
_MASK_LR = flags.DEFINE_float("mask_learning_rate", 1e-3, "Adam learning rate of the masker.")
_MODEL_DIR = flags.DEFINE_string("model_dir", "runs/torch_ddp", "Where rank 0 writes the models.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Start 2 local processes on tiny data and compare their weights.")


def train(num_images=None, widths=(16, 32, 64), filters=16):
    """One process' part of the run; returns (rank, world, model)."""
    import keras

    import keras_adios
    from keras_adios import data
    from keras_adios.distribute import torch_distributed

    rank, world = torch_distributed.init_process_group()
    if _BATCH.value % world:
        raise ValueError(f"--batch_size must be a multiple of the {world} processes. Received: {_BATCH.value}")
    images, labels = data.load_dataset(_DATASET.value, "train", data_dir=_DATA_DIR.value, num_images=num_images)
    config = data.AugmentationConfig.preset(_DATASET.value, image_size=int(images.shape[1]))
    dataset = data.make_pretrain_dataset(images, labels, config=config, batch_size=_BATCH.value // world, seed=0)
    keras.utils.set_random_seed(0)  # the same initial weights on every process
    size = config.image_size
    model = keras_adios.ADIOS(
        keras_adios.encoders.SmallResNet(input_shape=(size, size, 3), widths=widths),
        keras_adios.layers.MaskGenerator(num_masks=_NUM_MASKS.value, filters=filters),
        objective="simclr", num_classes=int(labels.max()) + 1, seed=0,
    )
    # Built already: the encoder knows its input shape.
    torch_distributed.broadcast_weights(model)  # rank 0's, in case initialisers differ
    model.compile(
        encoder_optimizer=keras.optimizers.Adam(_LR.value),
        masker_optimizer=keras.optimizers.Adam(_MASK_LR.value),
    )
    logging.info("rank %d of %d: %d images, batch %d per process", rank, world, len(images), _BATCH.value // world)
    model.fit(torch_distributed.shard(dataset), epochs=_EPOCHS.value, verbose=2 if rank == 0 else 0)
    if rank == 0:
        os.makedirs(_MODEL_DIR.value, exist_ok=True)
        model.encoder.save(os.path.join(_MODEL_DIR.value, "encoder.keras"))
    return rank, world, model


def smoke():
    """Runs 2 processes with torchrun on tiny data; each writes its weights; compares them."""
    import numpy as np

    out = _MODEL_DIR.value
    os.makedirs(out, exist_ok=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29563",
               os.path.abspath(__file__), "--smoke", f"--model_dir={out}", "--epochs=1", "--batch_size=16"]
    result = subprocess.run(command, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                            timeout=900)
    if result.returncode:
        sys.exit(f"error: the smoke processes failed:\n{result.stderr[-4000:]}")
    weights = [np.load(os.path.join(out, f"weights_rank{r}.npz")) for r in (0, 1)]
    names = weights[0].files  # trainable weights only (BatchNorm statistics are per process)
    different = [n for n in names if not np.array_equal(weights[0][n], weights[1][n])]
    if different:
        sys.exit(f"error: the processes' weights differ: {different[:5]}")
    print(f"2 processes, identical trainable weights ({len(names)} arrays); encoder in {out}/encoder.keras")


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags are written --name=value")
    if _SMOKE.value and "WORLD_SIZE" not in os.environ:
        return smoke()
    import numpy as np

    rank, _, model = train(num_images=64 if _SMOKE.value else None,
                           widths=(8, 16) if _SMOKE.value else (16, 32, 64), filters=8 if _SMOKE.value else 16)
    if _SMOKE.value:
        arrays = {f"w{i:03d}": np.asarray(v.value.detach().cpu()) for i, v in enumerate(model.trainable_weights)}
        np.savez(os.path.join(_MODEL_DIR.value, f"weights_rank{rank}.npz"), **arrays)


if __name__ == "__main__":
    app.run(main)
