r"""ADIOS training throughput on 1 vs 2 replicas (TensorFlow), side by side.

Builds the same ADIOS model twice, once under the default strategy (one
device) and once under `tf.distribute.MirroredStrategy` over two devices,
and measures images/second of `model.fit` steps on the same global batch
(two augmented views per image, from an in-memory repeated batch, so the
input pipeline is not measured). Rounds alternate the two configurations
(A/B interleaving) and the reported step time is the median over rounds;
the ratio `2 replicas / 1 replica` of images/second is printed.

Devices: two GPUs if there are, else the CPU split into two logical devices
(`tf.config.set_logical_device_configuration`, done before TensorFlow
initialises its devices). On a CPU-only machine both "replicas" share the
same cores, so a ratio near (or below) 1 is expected there: the benchmark
then measures the overhead of the distributed step (all-reduce, all-gather
of SimCLR negatives), not a speed-up.

Usage:

```shell
python benchmarks/distributed_throughput.py            # default sizes
python benchmarks/distributed_throughput.py --quick    # < 1 minute smoke run
python benchmarks/distributed_throughput.py --objective=byol --num_masks=4
```
"""

import os
import statistics
import time

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_integer("batch_size", 128, "Global batch size (images, each with two views).")
flags.DEFINE_integer("image_size", 32, "Height and width of the images.")
flags.DEFINE_enum("objective", "simclr", ["simclr", "byol", "simsiam"], "SSL objective.")
flags.DEFINE_integer("num_masks", 3, "Masks of the mask generator (0: no masker, the baseline).")
flags.DEFINE_bool("single_mask", False, "ADIOS-s.")
flags.DEFINE_integer("steps", 10, "Training steps per timed round.")
flags.DEFINE_integer("rounds", 3, "Timed rounds per configuration (median reported).")
flags.DEFINE_bool("quick", False, "Tiny sizes for a smoke run (< 1 minute).")


def _devices():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= 2:
        return [f"/gpu:{i}" for i in range(2)]
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    return ["/cpu:0", "/cpu:1"]


def _build(strategy, size):
    import keras

    import keras_adios

    with strategy.scope():
        keras.utils.set_random_seed(0)
        encoder = keras_adios.encoders.SmallResNet(
            input_shape=(size, size, 3), widths=(16, 32) if FLAGS.quick else (32, 64, 128),
            norm="batch",
        )
        masker = None
        if FLAGS.num_masks:
            masker = keras_adios.layers.MaskGenerator(
                num_masks=FLAGS.num_masks, filters=8 if FLAGS.quick else 16
            )
        small = dict(hidden_dim=64, projection_dim=32)
        objective = {
            "simclr": lambda: keras_adios.objectives.SimCLR(**small),
            "byol": lambda: keras_adios.objectives.BYOL(
                predictor_hidden_dim=64, total_steps=10_000, **small
            ),
            "simsiam": lambda: keras_adios.objectives.SimSiam(predictor_hidden_dim=16, **small),
        }[FLAGS.objective]()
        model = keras_adios.ADIOS(
            encoder, masker, objective=objective,
            single_mask=FLAGS.single_mask and masker is not None, seed=0,
        )
        model.compile(
            encoder_optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
            masker_optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        )
    return model


def main(argv):
    del argv
    devices = _devices()
    import numpy as np
    import tensorflow as tf

    batch = 16 if FLAGS.quick else FLAGS.batch_size
    size = 16 if FLAGS.quick else FLAGS.image_size
    steps = 3 if FLAGS.quick else FLAGS.steps
    rounds = 2 if FLAGS.quick else FLAGS.rounds
    rng = np.random.default_rng(0)
    views = tuple(rng.normal(size=(batch, size, size, 3)).astype("float32") for _ in range(2))
    dataset = tf.data.Dataset.from_tensors(views).repeat()

    configs = {
        "1 replica": tf.distribute.get_strategy(),
        "2 replicas": tf.distribute.MirroredStrategy(devices),
    }
    models = {}
    for name, strategy in configs.items():
        models[name] = _build(strategy, size)
        models[name].fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # trace + warm up
    times = {name: [] for name in configs}
    for r in range(rounds):
        order = list(configs) if r % 2 == 0 else list(configs)[::-1]
        for name in order:
            start = time.perf_counter()
            models[name].fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / steps)
    print(
        f"ADIOS {FLAGS.objective}, N={FLAGS.num_masks}{' (ADIOS-s)' if FLAGS.single_mask else ''}, "
        f"global batch {batch}, {size}x{size}, devices {devices}"
    )
    print(f"{'config':<12} {'step ms':>9} {'images/s':>10}")
    rates = {}
    for name in configs:
        step = statistics.median(times[name])
        rates[name] = batch / step
        print(f"{name:<12} {1000 * step:9.1f} {rates[name]:10.1f}")
    print(f"ratio 2/1 replicas: {rates['2 replicas'] / rates['1 replica']:.2f}x")


if __name__ == "__main__":
    app.run(main)
