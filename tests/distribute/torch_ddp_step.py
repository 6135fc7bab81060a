"""Two ADIOS steps with PyTorch in `torch.distributed` processes (gloo, CPU).

Usage: python -m torch.distributed.run --nproc_per_node=2 torch_ddp_step.py OUT_PREFIX
       python torch_ddp_step.py OUT_PREFIX          (one process: the reference)

Every process builds the same models (weights from a NumPy generator, fixed
ADIOS-s slots: `tests/cross_backend/one_step.py`), takes its rows of each global
batch (rank r: rows r*B/R .. (r+1)*B/R - 1), runs two `train_on_batch` steps
and writes its weights and logs to OUT_PREFIX.rank<r>.npz.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cross_backend"))
import one_step  # noqa: E402

from keras_adios import distribute  # noqa: E402
from keras_adios.distribute import torch_distributed  # noqa: E402

GLOBAL_BATCH, STEPS = 6, 2
CONFIGS = (("simclr", False), ("simclr", True), ("byol", False), ("simsiam", True))


def main(prefix):
    rank, world = torch_distributed.init_process_group()
    # The scenario is what it claims: torchrun's group (or none for the reference run).
    assert world == int(os.environ.get("WORLD_SIZE", 1)) and torch_distributed.is_active() == (world > 1)
    assert distribute.num_replicas_in_sync() == world and distribute.replica_id() == rank
    rows = GLOBAL_BATCH // world
    rng = np.random.default_rng(1)
    size = one_step.SIZE
    batches = [
        (rng.normal(size=(GLOBAL_BATCH, size, size, 3)).astype("float32"),
         rng.normal(size=(GLOBAL_BATCH, size, size, 3)).astype("float32"),
         rng.integers(0, 3, GLOBAL_BATCH).astype("int32"))
        for _ in range(STEPS)
    ]
    out = {"world": np.asarray(world)}
    for objective, single_mask in CONFIGS:
        config = f"{objective}_{'adios_s' if single_mask else 'adios'}"
        model = one_step.build(objective, single_mask)
        # Global BatchNorm statistics in the BYOL/SimSiam heads (a no-op for SimCLR's).
        distribute.use_sync_batchnorm(model)
        out[f"{config}/paths"] = np.asarray([v.path for v in model.weights if "seed_generator" not in v.path])
        for i, v in enumerate(model.weights):
            if "seed_generator" not in v.path:
                out[f"{config}/init/w{i:03d}"] = keras.ops.convert_to_numpy(v)
        for x1, x2, y in batches:
            local = slice(rank * rows, (rank + 1) * rows)
            logs = model.train_on_batch((x1[local], x2[local]), y[local], return_dict=True)
        for i, v in enumerate(model.weights):
            if "seed_generator" not in v.path:
                out[f"{config}/run/w{i:03d}"] = keras.ops.convert_to_numpy(v)
        for key, value in logs.items():
            out[f"{config}/run/log:{key}"] = np.asarray(float(value))
    np.savez(f"{prefix}.rank{rank}.npz", **out)


if __name__ == "__main__":
    main(sys.argv[1])
