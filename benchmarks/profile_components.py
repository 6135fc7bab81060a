r"""Times the pieces of an ADIOS step in isolation (TensorFlow backend).

Companion of `throughput.py` for finding what costs more than the FLOP
count says: each piece runs in its own `tf.function` on the same batch,
interleaved over rounds, and is reported as a multiple of one encoder
forward pass. `masker_group` is the mask generator as used (GroupNorm via
`keras_adios.layers.mask_generator.group_norm`), `masker_group_keras_layer`
the same network normalizing with `keras.layers.GroupNormalization.call`,
`masker_none` without normalization.

```shell
KERAS_BACKEND=tensorflow python benchmarks/profile_components.py --batch_size=128
```
"""

import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

import numpy as np  # noqa: E402

flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("masker_filters", 32, "MaskGenerator base width.")
flags.DEFINE_list("widths", ["32", "64", "128"], "SmallResNet stage widths.")
flags.DEFINE_integer("rounds", 3, "Interleaved rounds (median reported).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    import keras_adios

    assert keras.backend.backend() == "tensorflow", "TensorFlow only"
    shape = (FLAGS.batch_size, 32, 32, 3)
    x = tf.constant(np.random.default_rng(0).standard_normal(shape).astype("float32"))
    enc = keras_adios.encoders.SmallResNet((32, 32, 3), widths=tuple(int(w) for w in FLAGS.widths))
    class KerasGroupNormMasker(keras_adios.layers.MaskGenerator):
        """The mask generator normalizing with `GroupNormalization.call`
        itself, as before `keras_adios.layers.mask_generator.group_norm`."""

        def _block(self, convs, norms, i, x):
            return keras.ops.relu(norms[i](convs[i](x)))

    pieces = {}
    for name, cls, norm in (
        ("masker_group", keras_adios.layers.MaskGenerator, "group"),
        ("masker_group_keras_layer", KerasGroupNormMasker, "group"),
        ("masker_none", keras_adios.layers.MaskGenerator, "none"),
    ):
        m = cls(num_masks=4, filters=FLAGS.masker_filters, norm=norm)
        m.build(shape)
        pieces[name] = m

    def fwd(layer):
        return tf.function(lambda: tf.reduce_sum(layer(x, training=True)))

    def fwd_bwd_weights(layer):
        def f():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, training=True))
            return tape.gradient(loss, [v.value for v in layer.trainable_variables])
        return tf.function(f)

    def fwd_bwd_input(layer):
        def f():
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x, training=True))
            return tape.gradient(loss, x)
        return tf.function(f)

    fns = {
        "encoder fwd": fwd(enc),
        "encoder fwd+bwd (weights)": fwd_bwd_weights(enc),
        "encoder fwd+bwd (input only)": fwd_bwd_input(enc),
    }
    for name, m in pieces.items():
        fns[f"{name} fwd"] = fwd(m)
        fns[f"{name} fwd+bwd (weights)"] = fwd_bwd_weights(m)
    for f in fns.values():
        f()  # trace
    # Wall-clock and process CPU seconds (the latter varies far less on a
    # machine shared with other jobs).
    times = {k: [] for k in fns}
    cpu_times = {k: [] for k in fns}
    for r in range(FLAGS.rounds):
        for k, f in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            out = f()
            tf.nest.map_structure(lambda t: t.numpy(), out)
            times[k].append(time.perf_counter() - start)
            cpu_times[k].append(time.process_time() - start_cpu)
    base = statistics.median(times["encoder fwd"])
    cpu_base = statistics.median(cpu_times["encoder fwd"])
    print(f"batch {FLAGS.batch_size}; multiples of one encoder forward ({base:.3f} s wall, "
          f"{cpu_base:.3f} CPU s); load average {os.getloadavg()[0]:.1f}")
    print("| piece | time (s) | x encoder fwd | CPU s | x encoder fwd (CPU) |\n|---|---|---|---|---|")
    for k in fns:
        t, c = statistics.median(times[k]), statistics.median(cpu_times[k])
        print(f"| {k} | {t:.3f} | {t / base:.2f} | {c:.3f} | {c / cpu_base:.2f} |")


if __name__ == "__main__":
    app.run(main)
