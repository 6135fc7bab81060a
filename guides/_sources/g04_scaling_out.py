"""Guide 4: scaling out (cells of guides/04_scaling_out.ipynb)."""

CELLS = [
    ("md", r"""
# Scaling out: several GPUs, several machines, TPUs, JAX

Distributed ADIOS training changes **two things in your code**: the model is built and compiled
inside a strategy's `scope()`, and the batch size you give the dataset is the **global** batch
(split over the replicas). The maths stays the same: `ADIOS` divides its losses by the number of
replicas (the optimizers sum gradients over replicas), takes SimCLR negatives from the whole global
batch, draws ADIOS-s slots independently per replica, and reports global metrics. So one step on
`R` replicas gives the same weights as one step on one device with the same global batch, and that
is the first thing to check on a new setup.

This guide runs the TensorFlow part on one CPU split into **two logical devices** (a stand-in for
two GPUs; it is not faster, the two share the same cores), runs the multi-worker and JAX examples
as local subprocesses, and shows the TPU code.
"""),
    ("code", r"""
import os

# tf.distribute needs the TensorFlow backend; the logical devices must be set up
# before TensorFlow initialises its devices, i.e. before anything else runs.
os.environ["KERAS_BACKEND"] = "tensorflow"
SMOKE = os.environ.get("KERAS_ADIOS_GUIDE_SMOKE") == "1"

import tensorflow as tf

tf.get_logger().setLevel("ERROR")  # tf.distribute logs every collective at INFO level
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
import numpy as np

import keras_adios
from keras_adios import data

os.makedirs("runs", exist_ok=True)
print("logical devices:", [d.name for d in tf.config.list_logical_devices("CPU")])
"""),
    ("md", r"""
## MirroredStrategy (one machine, several GPUs)

On a GPU machine `keras_adios.distribute.get_strategy()` returns a `MirroredStrategy` over all GPUs
(a `TPUStrategy` on a TPU, else the default strategy), and the training CLI uses it by itself. Here
we make one over the two logical CPUs by hand. Everything that creates variables (model, heads,
optimizers) goes inside `strategy.scope()`; `fit` can be called outside.
"""),
    ("code", r"""
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
print("replicas in sync:", strategy.num_replicas_in_sync)

PER_REPLICA_BATCH = 16
GLOBAL_BATCH = PER_REPLICA_BATCH * strategy.num_replicas_in_sync
images, labels = data.load_dataset("shapes32", "train", num_images=64 if SMOKE else 512)
config = data.AugmentationConfig.preset("shapes32")
pairs = data.make_pretrain_dataset(images, labels, config=config, batch_size=GLOBAL_BATCH,
                                   drop_remainder=True)  # static, evenly split batches


def build_model(num_masks=3, seed=0):
    keras.utils.set_random_seed(seed)
    # GroupNorm normalises every image on its own, so replicas cannot disagree on statistics
    # (with BatchNorm encoders see below).
    encoder = keras_adios.encoders.SmallResNet(input_shape=(32, 32, 3), widths=(16, 32), norm="group")
    masker = keras_adios.layers.MaskGenerator(num_masks=num_masks, filters=8)
    model = keras_adios.ADIOS(encoder, masker, num_classes=10, seed=seed,
                              objective=keras_adios.objectives.SimCLR(hidden_dim=64, projection_dim=32))
    model.compile(encoder_optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  masker_optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  run_eagerly=SMOKE)  # the smoke test's 2 steps are cheaper without tracing
    return model


with strategy.scope():
    model = build_model()
print(f"global batch {GLOBAL_BATCH} = {PER_REPLICA_BATCH} per replica x {strategy.num_replicas_in_sync}")
"""),
    ("md", r"""
## What to check first: one step on 2 replicas equals one step on 1 device

Before a long run, build the same model without the strategy, give it the same weights, run one
step of each on the same global batch, and compare every weight: they must agree to float32
round-off. Two things legitimately differ and are kept out of this check:

- **BatchNorm**: by default each replica normalises with its own half of the batch (as per-GPU
  BatchNorm does in PyTorch). `keras_adios.distribute.use_sync_batchnorm(model)` (or
  `ResNet18(norm="sync_batch")`) makes the statistics global; they then agree up to the round-off
  of a different variance formula (about 1e-4 here). The model above uses GroupNorm instead.
- **Random draws** (ADIOS-s slots, random maskers) are made per replica, so compare with full
  ADIOS, as here.
"""),
    ("code", r"""
one_batch = tf.data.Dataset.from_tensors(next(iter(pairs)))
single = build_model()
single.set_weights(model.get_weights())  # identical starting point

log_mirrored = model.fit(one_batch, epochs=1, verbose=0).history
log_single = single.fit(one_batch, epochs=1, verbose=0).history
diff = max(
    float(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b)).max())
    for a, b in zip(model.trainable_weights, single.trainable_weights)
)
print(f"loss: 2 replicas {log_mirrored['loss'][0]:.6f}, 1 device {log_single['loss'][0]:.6f}")
print(f"largest weight difference after one step: {diff:.2e}")
assert diff < 1e-5, diff
"""),
    ("md", r"""
Then train as usual: `fit` splits every global batch over the replicas.
"""),
    ("code", r"""
history = model.fit(pairs, epochs=1 if SMOKE else 2, verbose=2)
"""),
    ("md", r"""
Other things worth checking on a real cluster:

- **Throughput**: `benchmarks/distributed_throughput.py` times steps on 1 vs. `R` replicas.
- **Learning rate**: the global batch grows with `R`; the paper's recipes (batch 128 or 256) use
  LARS, which is meant to make larger batches work, but retune `learning_rate` if you scale up.
- **Moving statistics**: without synchronised BatchNorm every replica keeps its own BatchNorm
  moving mean/variance (Keras creates them with `aggregation="none"`), and a checkpoint holds replica
  0's. The trainable weights are identical either way.
- **`jit_compile`**: XLA under `MirroredStrategy` on CPU fails in TensorFlow itself; leave it at
  `"auto"` (off) there. On TPUs it is on.

## MultiWorkerMirroredStrategy (several machines)

Every machine runs the same script with a `TF_CONFIG` that lists the workers and says which one it
is (worker 0 is the chief). The strategy must be created before any other TensorFlow op:

```python
# TF_CONFIG='{"cluster": {"worker": ["hostA:12345", "hostB:12345"]}, "task": {"type": "worker", "index": 0}}'
strategy = keras_adios.distribute.get_strategy(multi_worker=True)   # first!
with strategy.scope():
    model = keras_adios.ADIOS(...)
    model.compile(...)          # applies the Keras 3.15 multi-worker workaround
model.fit(dataset, epochs=...)  # global batch; tf.data shards the data over the workers
if keras_adios.distribute.is_chief():
    ...                         # every worker must save (it may synchronise), keep the chief's file
```

Keras 3.15's `fit` is broken under this strategy (keras-team/keras#20585);
`keras_adios.distribute.multi_worker_patch` applies a narrow fix only under it.
`examples/multi_worker_pretrain.py --smoke` starts two local workers on 127.0.0.1 and checks that
they end with identical weights:
"""),
    ("code", r"""
import subprocess
import sys

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(keras_adios.__file__)), "examples")


def run_example(*args, env=None):
    result = subprocess.run([sys.executable, *args], cwd=EXAMPLES, capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {})), timeout=600)
    lines = result.stdout.strip().splitlines()
    print(f"exit code {result.returncode}:", lines[-1] if lines else result.stderr[-2000:])
    return result


if SMOKE:  # the test suite runs these scripts in tests/test_examples.py
    print("skipped in smoke mode")
else:
    run_example("multi_worker_pretrain.py", "--smoke", "--model_dir=" + os.path.abspath("runs/guide04_mw"))
"""),
    ("md", r"""
## TPUStrategy

On a Cloud TPU VM, `get_strategy()` finds the TPU and returns a `TPUStrategy`; the rest is the
same code, with three TPU habits: static shapes (`drop_remainder=True`, which ADIOS-s needs anyway),
`jit_compile=True`, and several steps per host call (`steps_per_execution`). Data and outputs can
live on GCS (`gs://` paths work through `tf.io.gfile`).

```python
strategy = keras_adios.distribute.get_strategy(tpu="local")   # TPU VM; or the TPU's name
with strategy.scope():
    model = keras_adios.ADIOS(keras_adios.encoders.ResNet18(input_shape=(96, 96, 3)),
                              keras_adios.layers.MaskGenerator(num_masks=6, filters=32),
                              objective="simclr")
    model.compile(encoder_optimizer=..., masker_optimizer=...,
                  jit_compile=True, steps_per_execution=50)
model.fit(pairs, epochs=500)   # pairs batched with the global batch, drop_remainder=True
```

`examples/tpu_pretrain.py` is this as a script (`--tpu`, `--data_dir=gs://...`,
`--model_dir=gs://...`); its `--smoke` mode runs the same code path on a CPU:
"""),
    ("code", r"""
if SMOKE:
    print("skipped in smoke mode")
else:
    run_example("tpu_pretrain.py", "--smoke", "--model_dir=" + os.path.abspath("runs/guide04_tpu"))
"""),
    ("md", r"""
## JAX: `keras.distribution.DataParallel`

On JAX, distribution is a global setting made before the model is built; the jitted step then sees
the global batch sharded over the devices, so SimCLR negatives, BatchNorm statistics and losses are
global with no extra code:

```python
keras.distribution.set_distribution(keras.distribution.DataParallel())  # all devices
model = keras_adios.ADIOS(...); model.compile(...); model.fit(pairs, ...)
```

JAX fixes its devices at start-up, so the two-CPU demonstration runs in a fresh process with
`XLA_FLAGS=--xla_force_host_platform_device_count=2`:
"""),
    ("code", r"""
JAX_SCRIPT = '''
import keras, keras_adios
from keras_adios import data
devices = keras.distribution.list_devices()
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
images, labels = data.load_dataset("shapes32", "train", num_images=64)
pairs = data.make_pretrain_dataset(images, labels, batch_size=32,
                                   config=data.AugmentationConfig.preset("shapes32"))
model = keras_adios.ADIOS(
    keras_adios.encoders.SmallResNet(input_shape=(32, 32, 3), widths=(16, 32)),
    keras_adios.layers.MaskGenerator(num_masks=3, filters=8),
    objective=keras_adios.objectives.SimCLR(hidden_dim=64, projection_dim=32))
model.compile(encoder_optimizer=keras.optimizers.SGD(0.05), masker_optimizer=keras.optimizers.SGD(0.05))
history = model.fit(pairs, epochs=1, verbose=0)
print(f"JAX DataParallel on {len(devices)} devices: loss {history.history['loss'][-1]:.4f}")
'''
if SMOKE:
    print("skipped in smoke mode")
else:
    with open("runs/guide04_jax.py", "w") as f:
        f.write(JAX_SCRIPT)
    run_example(os.path.abspath("runs/guide04_jax.py"),
                env={"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
"""),
    ("md", r"""
## Summary

| setting | what changes in your code | check |
|---|---|---|
| several GPUs | `with get_strategy().scope():` around build + compile; global batch | 1-vs-R step equality; sync BN if BN stats matter |
| several machines | `get_strategy(multi_worker=True)` first, `TF_CONFIG` per worker; save on every worker, keep the chief's | identical weights on all workers |
| TPU | `get_strategy(tpu=...)`; `drop_remainder=True`, `jit_compile=True`, `steps_per_execution` | `--smoke` on CPU first |
| JAX | `keras.distribution.set_distribution(DataParallel())` before building | same step as one device |
| PyTorch | one device for now | |

The training CLI does the TensorFlow part by itself: `python -m keras_adios.train --batch_size=1024`
picks the machine's strategy, and `--batch_size` is global.
"""),
]
