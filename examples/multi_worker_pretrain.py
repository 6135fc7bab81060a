r"""Pretrain ADIOS on several machines with `MultiWorkerMirroredStrategy`.

Run this script on every worker with a `TF_CONFIG` describing the cluster
and this worker's index (worker 0 is the chief), e.g. two machines:

```shell
# on hostA
TF_CONFIG='{"cluster": {"worker": ["hostA:12345", "hostB:12345"]},
            "task": {"type": "worker", "index": 0}}' \
    python examples/multi_worker_pretrain.py --dataset=cifar10 --model_dir=/shared/run1
# on hostB: the same with "index": 1
```

The strategy is created first, before any other TensorFlow op. Each worker
reads the whole dataset and `tf.data` shards it by data
(`AutoShardPolicy.DATA`); `--batch_size` is the global batch. `ADIOS.compile`
applies the Keras 3.15 workaround of
`keras_adios.distribute.multi_worker_patch` (keras-team/keras#20585). After
training every worker saves (saving may synchronise the workers), but only
the chief's file is kept in `--model_dir`.

`--smoke` starts two local workers on 127.0.0.1 itself (free ports) with tiny
synthetic data and synchronised BatchNorm, and checks that they end with
identical weights (BatchNorm moving statistics included).
"""

import json
import os
import socket
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tpu_pretrain  # noqa: E402  (shares flags, dataset and model code)

FLAGS = flags.FLAGS
flags.DEFINE_bool("smoke_worker", False, "Internal: one worker of the --smoke run.")


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def smoke():
    """Starts 2 local workers with --smoke_worker and compares their weights."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = FLAGS.model_dir
    os.makedirs(out, exist_ok=True)
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        ))
        workers.append(subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--smoke_worker",
             f"--model_dir={out}", f"--objective={FLAGS.objective}"],
            env=env,
        ))
    codes = [w.wait(timeout=600) for w in workers]
    if any(codes):
        raise SystemExit(f"worker exit codes: {codes}")
    import numpy as np

    weights = [np.load(os.path.join(out, f"weights_worker{i}.npz")) for i in range(2)]
    same = all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])
    print(f"smoke: 2 workers finished; identical weights: {same}")
    if not same:
        raise SystemExit(1)


def worker():
    import keras_adios

    # Must come before any other TensorFlow op.
    strategy = keras_adios.distribute.get_strategy(multi_worker=True)
    import numpy as np
    import tensorflow as tf

    if FLAGS.smoke_worker:
        # Synchronised BN: the BatchNorm moving statistics are then identical
        # on both workers too (otherwise each keeps its own; see
        # keras_adios.distribute).
        FLAGS.dataset, FLAGS.num_masks, FLAGS.sync_bn = "shapes32", 3, True
        dataset = tpu_pretrain.make_dataset(16, num_images=64).take(2)
        model = tpu_pretrain.make_model(strategy, (32, 32, 3), tiny=True)
        epochs = 1
    else:
        dataset = tpu_pretrain.make_dataset(FLAGS.batch_size)
        spec = dataset.element_spec
        views = spec[0] if isinstance(spec[0], tuple) else spec
        model = tpu_pretrain.make_model(strategy, tuple(views[0].shape[1:]))
        epochs = FLAGS.epochs
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    model.fit(dataset.with_options(options), epochs=epochs, verbose=2)
    chief = keras_adios.distribute.is_chief()
    path = tpu_pretrain.save_encoder(model, FLAGS.model_dir, chief=chief)
    if FLAGS.smoke_worker:
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        np.savez(os.path.join(FLAGS.model_dir, f"weights_worker{index}.npz"), *model.get_weights())
    if chief:
        print(f"chief saved the encoder to {path}")


def main(argv):
    del argv
    if FLAGS.smoke and not FLAGS.smoke_worker:
        smoke()
    else:
        worker()


if __name__ == "__main__":
    app.run(main)
