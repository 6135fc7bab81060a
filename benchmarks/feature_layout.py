r"""The ResNet encoders' feature layout: channels-last against channels-first, side by side.

`keras_adios.encoders.ResNet(feature_layout=...)` chooses the memory layout
of the feature maps inside the encoder (inputs stay NHWC images, weights are
the same). On the PyTorch backend Keras' convolutions copy every channels-last
input to channels-first and back and keep the copy for the backward, which
is why `feature_layout="auto"` is channels-first there. This script measures
what that choice gives, on the current Keras backend (`KERAS_BACKEND`):

* time: one ADIOS training step (SimCLR, N masks, `ResNet18` with the CIFAR
  stem at `--width`, the UNet mask generator, SGD) and one plain supervised
  step (the encoder plus a linear head) for each layout, built with the same
  weights in one process and timed in interleaved rounds (order alternated);
  reported as the median of the per-round ratios channels-last /
  channels-first (above 1: channels-first is faster);
* memory: the peak resident memory of a fresh process that builds the
  encoder in one layout and runs `--memory_forwards` training forwards of a
  batch plus one backward through all of them (what the ADIOS encoder phase
  keeps alive), one process per layout, run one after the other.

```shell
KERAS_BACKEND=torch python benchmarks/feature_layout.py --output=benchmarks/results/feature_layout_torch
python benchmarks/feature_layout.py --quick --output=/tmp/layout   # smoke run (a small ResNet)
```

Writes `OUTPUT.json` and `OUTPUT.md`. Nothing needs a network or a GPU.
"""

import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYOUTS = ("channels_last", "channels_first")

flags.DEFINE_integer("width", 32, "ResNet-18 width (64 is the paper's).")
flags.DEFINE_integer("batch_size", 64, "Images per step.")
flags.DEFINE_integer("num_masks", 4, "N.")
flags.DEFINE_integer("masker_filters", 32, "UNet base filters.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds (medians are reported).")
flags.DEFINE_integer("memory_batch_size", 256, "Batch of the memory measurement (0 skips it).")
flags.DEFINE_integer("memory_width", 64, "ResNet-18 width of the memory measurement.")
flags.DEFINE_integer("memory_forwards", 3, "Training forwards kept alive before one backward.")
flags.DEFINE_string("memory_worker", None, "Internal: measure one layout's peak memory and exit.")
flags.DEFINE_bool("quick", False, "Tiny smoke configuration.")
flags.DEFINE_string("output", None, "Writes OUTPUT.json and OUTPUT.md (suffix stripped).")
FLAGS = flags.FLAGS


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def needs_xla():
    """True on TensorFlow without a GPU: its own CPU Conv2D takes channels-last only.

    Both layouts then run compiled by XLA (`jit_compile=True`), so the
    comparison stays between layouts under one compiler.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.config.list_logical_devices("GPU")


def memory_worker(layout):
    """Prints the peak RSS (MB) of `memory_forwards` forwards + one backward."""
    import keras
    import numpy as np

    import keras_adios

    keras.utils.set_random_seed(0)
    encoder = keras_adios.encoders.ResNet18(width=FLAGS.memory_width, feature_layout=layout)
    x = np.random.default_rng(0).normal(size=(FLAGS.memory_batch_size, 32, 32, 3)).astype("float32")
    before = peak_rss_mb()

    def loss_fn(variables):
        del variables
        outs = [encoder(x, training=True) for _ in range(FLAGS.memory_forwards)]
        return sum(keras.ops.mean(keras.ops.square(o)) for o in outs)

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.autograd.grad(loss_fn(None), [v.value for v in encoder.trainable_variables])
    elif backend == "tensorflow":
        import tensorflow as tf

        def grads():
            with tf.GradientTape() as tape:
                loss = loss_fn(None)
            return tape.gradient(loss, encoder.trainable_variables)

        tf.function(grads, jit_compile=needs_xla(), autograph=False)()
    else:
        import jax

        trainable = [v.value for v in encoder.trainable_variables]
        non_trainable = [v.value for v in encoder.non_trainable_variables]

        def pure(tv):
            outs = [encoder.stateless_call(tv, non_trainable, x, training=True)[0]
                    for _ in range(FLAGS.memory_forwards)]
            return sum(jax.numpy.mean(o ** 2) for o in outs)

        jax.block_until_ready(jax.grad(pure)(trainable))
    print(json.dumps({"layout": layout, "peak_rss_mb": peak_rss_mb(), "before_mb": before}))


def build(layout):
    import keras
    import numpy as np

    import keras_adios

    keras.utils.set_random_seed(0)
    if FLAGS.quick:
        # The smoke run checks the plumbing, not ResNet-18: one block in each of two
        # stages and a 3-level UNet compile about 3x faster under XLA.
        encoder = keras_adios.encoders.ResNet(stage_widths=(FLAGS.width, 2 * FLAGS.width), blocks_per_stage=1,
                                              feature_layout=layout)
    else:
        encoder = keras_adios.encoders.ResNet18(width=FLAGS.width, feature_layout=layout)
    masker = keras_adios.layers.MaskGenerator(num_masks=FLAGS.num_masks, filters=FLAGS.masker_filters, norm="group",
                                              num_blocks=3 if FLAGS.quick else None)
    model = keras_adios.ADIOS(
        encoder,
        masker,
        objective=keras_adios.objectives.SimCLR(temperature=0.2),
        seed=0,
    )
    jit = needs_xla()
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        masker_optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        jit_compile=jit,
    )
    supervised = keras.Sequential([encoder, keras.layers.Dense(10)])
    supervised.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    rng = np.random.default_rng(0)
    shape = (FLAGS.batch_size, 32, 32, 3)
    x1, x2 = rng.normal(size=shape).astype("float32"), rng.normal(size=shape).astype("float32")
    y = rng.integers(0, 10, FLAGS.batch_size).astype("int32")
    return model, supervised, (x1, x2), (x1, y)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def measure_time():
    import keras

    built = {layout: build(layout) for layout in LAYOUTS}
    # Same weights in both layouts: the steps compute the same numbers.
    last, first = built["channels_last"], built["channels_first"]
    first[0].set_weights(last[0].get_weights())
    first[1].set_weights(last[1].get_weights())
    losses = {}
    for layout, (model, supervised, views, labelled) in built.items():  # warm-up (traces, first allocations)
        losses[layout] = float(keras.ops.convert_to_numpy(model.train_on_batch(views, return_dict=True)["loss"]))
        supervised.train_on_batch(*labelled)
    times = {(layout, kind): [] for layout in LAYOUTS for kind in ("adios", "supervised")}
    for r in range(FLAGS.rounds):
        order = LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]
        for layout in order:
            model, supervised, views, labelled = built[layout]
            times[(layout, "adios")].append(timed(lambda: model.train_on_batch(views))[0])
            times[(layout, "supervised")].append(timed(lambda: supervised.train_on_batch(*labelled))[0])
        print(f"round {r + 1}/{FLAGS.rounds}: " + ", ".join(
            f"{k[0]} {k[1]} {v[-1]:.3f}s" for k, v in times.items()), flush=True)
    rows = []
    for kind in ("adios", "supervised"):
        ratios = [a / b for a, b in zip(times[("channels_last", kind)], times[("channels_first", kind)])]
        rows.append({
            "step": kind,
            "channels_last_s": statistics.median(times[("channels_last", kind)]),
            "channels_first_s": statistics.median(times[("channels_first", kind)]),
            "ratio": statistics.median(ratios),
            "per_round_ratios": ratios,
        })
    return rows, losses


def measure_memory():
    results = {}
    for layout in LAYOUTS:
        cmd = [sys.executable, os.path.abspath(__file__), f"--memory_worker={layout}",
               f"--memory_batch_size={FLAGS.memory_batch_size}", f"--memory_width={FLAGS.memory_width}",
               f"--memory_forwards={FLAGS.memory_forwards}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode != 0:
            raise RuntimeError(f"memory worker for {layout} failed:\n{proc.stderr[-3000:]}")
        results[layout] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def markdown(meta, rows, memory, losses):
    lines = [
        "# ResNet feature layout: channels-last vs channels-first",
        "",
        f"Written by `benchmarks/feature_layout.py` on {meta['date']} at commit `{meta['commit']}`; "
        f"Keras backend {meta['backend']}; {meta['encoder']} (CIFAR stem) width {meta['width']}, batch "
        f"{meta['batch_size']}, N = {meta['num_masks']}, UNet {meta['masker_filters']} filters (GroupNorm), "
        f"SGD; {meta['rounds']} interleaved rounds, same weights in both layouts; load average at the "
        f"end {meta['load_average']:.1f}. Ratio = channels-last time / channels-first time, median of "
        "per-round ratios (above 1: channels-first is faster)."
        + (" Both layouts compiled by XLA (TensorFlow's CPU Conv2D takes channels-last only)."
           if meta.get("xla") else ""),
        "",
        "| step | channels-last (s) | channels-first (s) | ratio | per-round ratios |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['step']} | {row['channels_last_s']:.3f} | {row['channels_first_s']:.3f} | "
            f"**{row['ratio']:.2f}x** | {', '.join(f'{r:.2f}' for r in row['per_round_ratios'])} |"
        )
    lines += ["", "First ADIOS loss (same weights, same batch): "
              + ", ".join(f"{k} {v:.6f}" for k, v in losses.items()) + "."]
    if memory:
        grow = {k: v["peak_rss_mb"] - v["before_mb"] for k, v in memory.items()}
        lines += [
            "",
            f"Memory of a fresh process per layout, ResNet-18 width {meta['memory_width']}, "
            f"{meta['memory_forwards']} training forwards of {meta['memory_batch_size']} images kept "
            "alive, then one backward; growth of the peak resident memory over the built model: "
            f"channels-last **{grow['channels_last']:.0f} MB**, channels-first "
            f"**{grow['channels_first']:.0f} MB** ({grow['channels_first'] / max(grow['channels_last'], 1e-9):.2f}x); "
            f"peaks {memory['channels_last']['peak_rss_mb']:.0f} / {memory['channels_first']['peak_rss_mb']:.0f} MB.",
        ]
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def main(argv):
    del argv
    if FLAGS.memory_worker:
        memory_worker(FLAGS.memory_worker)
        return
    if FLAGS.quick:
        # Width 8, not 4: torch 2.13's CPU convolution backward does not return
        # at 4 channels (either layout).
        FLAGS.width, FLAGS.batch_size, FLAGS.num_masks, FLAGS.masker_filters = 8, 4, 2, 8
        FLAGS.rounds, FLAGS.memory_batch_size, FLAGS.memory_width = 2, 4, 8
        if needs_xla():
            # Under XLA on a CPU the two memory workers only repeat the timed
            # compilations at another size; the smoke run leaves them out.
            FLAGS.memory_batch_size = 0
    import keras

    rows, losses = measure_time()
    memory = measure_memory() if FLAGS.memory_batch_size > 0 else None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit, "backend": keras.backend.backend(), "width": FLAGS.width,
        "encoder": "ResNet, 2 stages of 1 block (smoke run)" if FLAGS.quick else "ResNet-18",
        "batch_size": FLAGS.batch_size, "num_masks": FLAGS.num_masks, "masker_filters": FLAGS.masker_filters,
        "rounds": FLAGS.rounds, "memory_width": FLAGS.memory_width, "memory_batch_size": FLAGS.memory_batch_size,
        "memory_forwards": FLAGS.memory_forwards, "xla": needs_xla(), "load_average": os.getloadavg()[0],
        "command": "python benchmarks/feature_layout.py " + " ".join(sys.argv[1:]),
    }
    text = markdown(meta, rows, memory, losses)
    print(text)
    if FLAGS.output:
        base = os.path.splitext(FLAGS.output)[0]
        with open(base + ".json", "w") as f:
            json.dump({"meta": meta, "rows": rows, "memory": memory, "losses": losses}, f, indent=2)
        with open(base + ".md", "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
