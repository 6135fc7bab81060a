r"""Why JAX is slow on a CPU at ResNet-18 width 64 / batch 256, and what XLA settings change it.

`benchmarks/vs_reference.py` found the JAX backend's plain supervised step of
ResNet-18 (CIFAR stem, width 64, batch 256) several times slower than
PyTorch's on this CPU, while at width 32 / batch 64 JAX was as fast as its
ceiling. This script separates the causes, side by side in one run:

* `supervised`: the supervised training step of `vs_reference.py` (the
  encoder plus a linear head, cross-entropy, SGD with momentum, one fixed
  in-memory batch, `train_on_batch`), the whole network;
* `conv`: one 3x3 convolution, 64 -> 64 channels on 34 x 34 maps (the
  encoder's first stage at width 64), forward and backward (input and weight
  gradients), jitted on its own; in PyTorch the same convolution, NCHW.

Each variant is one long-lived worker process (built and warmed up once);
the workers then alternate in rounds (order reversed every round), never at
the same time, and every figure is the median over rounds. Ratios are
against the PyTorch worker of the same round (above 1: slower than PyTorch).
The variants are the XLA CPU settings that could matter here, each set
through `XLA_FLAGS` in its own worker, and the encoder's feature layout:

* `default`: what the JAX backend does out of the box;
* `onednn`: `--xla_cpu_use_onednn=true` (oneDNN kernels for convolutions
  and matmuls where XLA supports them);
* `no_xnnpack`: `--xla_cpu_use_xnnpack=false`;
* `legacy_runtime`: `--xla_cpu_use_thunk_runtime=false` (XLA's older CPU
  runtime, one compiled function per program instead of a thunk sequence);
* `channels_first`: `keras_adios.encoders.ResNet18(feature_layout="channels_first")`
  (NCHW feature maps inside the encoder, the default only on PyTorch).

Since `keras_adios.layers.Conv2D` (the ResNet encoders' convolution)
computes its kernel gradient as matrix products on JAX CPUs, the
`supervised` rows include that fix; `benchmarks/results/xla_cpu_jax.md` was
measured before it (every variant with XLA's own kernel gradient), and
`benchmarks/conv_gradients.py` times the convolution's parts.

A variant whose worker cannot start (an XLA flag this jaxlib does not know)
is reported as failed with its error, not dropped.

```shell
KERAS_BACKEND=jax python benchmarks/xla_cpu.py --output=benchmarks/results/xla_cpu_jax   # about 15 min
KERAS_BACKEND=jax python benchmarks/xla_cpu.py --quick --output=/tmp/xla_cpu             # smoke run
```

Writes `OUTPUT.json` and `OUTPUT.md`. Nothing needs a network or a GPU.
"""

import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import vs_reference  # noqa: E402  (the same supervised step and configurations)

#: name -> (XLA_FLAGS added, encoder feature layout). "torch" is the PyTorch baseline.
VARIANTS = {
    "default": ("", "auto"),
    "onednn": ("--xla_cpu_use_onednn=true", "auto"),
    "no_xnnpack": ("--xla_cpu_use_xnnpack=false", "auto"),
    "legacy_runtime": ("--xla_cpu_use_thunk_runtime=false", "auto"),
    "channels_first": ("", "channels_first"),
}
KINDS = ("supervised", "conv")

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("config", "w64_b256", f"One of {sorted(vs_reference.CONFIGS)}.")
    flags.DEFINE_list("variants", list(VARIANTS), f"Among {sorted(VARIANTS)}.")
    flags.DEFINE_integer("rounds", 3, "Alternating rounds (medians are reported).")
    flags.DEFINE_integer("steps", 1, "Timed steps per kind and worker per round.")
    flags.DEFINE_integer("warmup", 1, "Untimed steps per kind before the rounds.")
    flags.DEFINE_bool("quick", False, "Tiny smoke configuration.")
    flags.DEFINE_string("output", os.path.join(ROOT, "benchmarks", "results", "xla_cpu_jax"),
                        "Writes OUTPUT.json and OUTPUT.md.")
    flags.DEFINE_string("worker", None, "Internal: run as the worker of this variant ('torch' or a variant).")


def conv_shape(width, batch):
    """(batch, size, channels) of the encoder's first stage: 34 x 34 maps after the CIFAR stem."""
    return batch, vs_reference.IMAGE_SIZE + 2, width


def keras_steps(width, batch, layout):
    import keras
    import numpy as np

    sys.path.insert(0, ROOT)
    import keras_adios

    keras.utils.set_random_seed(0)
    shape = (vs_reference.IMAGE_SIZE, vs_reference.IMAGE_SIZE, 3)
    encoder = keras_adios.encoders.ResNet18(input_shape=shape, stem="cifar", width=width,
                                            feature_layout=layout)
    supervised = keras.Sequential([encoder, keras.layers.Dense(vs_reference.NUM_CLASSES)])
    supervised.compile(
        optimizer=keras.optimizers.SGD(vs_reference.LEARNING_RATE, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch,) + shape).astype("float32")
    y = rng.integers(0, vs_reference.NUM_CLASSES, batch).astype("int32")

    import jax

    n, size, channels = conv_shape(width, batch)
    data_format = "channels_first" if layout == "channels_first" else "channels_last"
    maps_shape = (n, channels, size, size) if data_format == "channels_first" else (n, size, size, channels)
    maps = jax.numpy.asarray(rng.normal(size=maps_shape).astype("float32"))
    kernel = jax.numpy.asarray(rng.normal(size=(3, 3, channels, channels)).astype("float32") * 0.05)

    def conv_loss(inputs, weights):
        out = keras.ops.conv(inputs, weights, padding="same", data_format=data_format)
        return keras.ops.mean(out * out)

    conv_grad = jax.jit(jax.grad(conv_loss, argnums=(0, 1)))

    def conv_step():
        jax.block_until_ready(conv_grad(maps, kernel))

    return {"supervised": lambda: supervised.train_on_batch(x, y), "conv": conv_step}


def torch_steps(width, batch):
    import numpy as np
    import torch

    steps = vs_reference.torch_worker(width, batch, 4, 8, False)
    n, size, channels = conv_shape(width, batch)
    rng = np.random.default_rng(0)
    maps = torch.tensor(rng.normal(size=(n, channels, size, size)).astype("float32"), requires_grad=True)
    kernel = torch.tensor(rng.normal(size=(channels, channels, 3, 3)).astype("float32") * 0.05,
                          requires_grad=True)

    def conv_step():
        out = torch.nn.functional.conv2d(maps, kernel, padding=1)
        torch.autograd.grad((out * out).mean(), (maps, kernel))

    return {"supervised": steps["supervised"], "conv": conv_step}


def run_worker():
    width, batch = vs_reference.CONFIGS[FLAGS.config]
    if FLAGS.worker == "torch":
        steps = torch_steps(width, batch)
    else:
        steps = keras_steps(width, batch, VARIANTS[FLAGS.worker][1])
    for kind in KINDS:
        for _ in range(FLAGS.warmup):
            steps[kind]()
    print("READY", flush=True)
    for line in sys.stdin:
        kind, count = line.split()
        wall = []
        for _ in range(int(count)):
            start = time.perf_counter()
            steps[kind]()
            wall.append(time.perf_counter() - start)
        print(json.dumps({"wall": wall}), flush=True)


def start_worker(name):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if name != "torch":
        env["KERAS_BACKEND"] = "jax"
        env["XLA_FLAGS"] = " ".join(f for f in (os.environ.get("XLA_FLAGS", ""), VARIANTS[name][0]) if f)
    args = [sys.executable, os.path.abspath(__file__), f"--worker={name}", f"--config={FLAGS.config}",
            f"--warmup={FLAGS.warmup}"]
    # stderr goes to a file (a pipe nobody reads would fill and block the worker's logging).
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                               text=True)
    for line in process.stdout:
        if line.strip() == "READY":
            return process, None
    process.wait()
    log.seek(0)
    error = [line for line in log.read().strip().splitlines() if line.strip()]
    return None, (error[-1][:300] if error else f"exit status {process.returncode}")


def measure():
    names = ["torch"] + FLAGS.variants
    workers, failed = {}, {}
    for name in names:  # started one after the other: their warm-ups never overlap
        process, error = start_worker(name)
        if process is None:
            failed[name] = error
            print(f"{name}: the worker did not start: {error}", flush=True)
        else:
            workers[name] = process
    if "torch" not in workers:
        raise RuntimeError(f"The PyTorch baseline worker did not start: {failed.get('torch')}")
    times = {(name, kind): [] for name in workers for kind in KINDS}
    try:
        order = list(workers)
        for r in range(FLAGS.rounds):
            for kind in KINDS:
                for name in (order if r % 2 == 0 else order[::-1]):
                    workers[name].stdin.write(f"{kind} {FLAGS.steps}\n")
                    workers[name].stdin.flush()
                    times[(name, kind)].append(statistics.median(json.loads(workers[name].stdout.readline())["wall"]))
            print(f"round {r + 1}/{FLAGS.rounds}: "
                  + ", ".join(f"{n} {k} {times[(n, k)][-1]:.3f}s" for n, k in times), flush=True)
    finally:
        for process in workers.values():
            process.stdin.close()
            process.wait(timeout=60)
    rows = []
    for name in names:
        row = {"variant": name, "xla_flags": VARIANTS.get(name, ("", ""))[0],
               "feature_layout": VARIANTS.get(name, ("", "NCHW"))[1] if name != "torch" else "NCHW"}
        if name in failed:
            row["error"] = failed[name]
        else:
            for kind in KINDS:
                row[f"{kind}_seconds"] = statistics.median(times[(name, kind)])
                # Per-round ratio to PyTorch of the same round, then the median.
                row[f"{kind}_over_torch"] = statistics.median(
                    a / b for a, b in zip(times[(name, kind)], times[("torch", kind)]))
        rows.append(row)
    return rows


def markdown(rows, meta):
    width, batch = vs_reference.CONFIGS[meta["config"]]
    lines = [
        "# JAX on a CPU: XLA settings and feature layout against PyTorch, side by side", "",
        f"Written by `benchmarks/xla_cpu.py` on {meta['date']} at commit `{meta['commit']}`; jax "
        f"{meta['jax']}, torch {meta['torch']}, ResNet-18 (CIFAR stem) width {width}, batch {batch}, "
        f"{meta['rounds']} alternating rounds x {meta['steps']} steps, medians. Ratios: the variant's time / "
        "PyTorch's in the same round (above 1: slower than PyTorch), median over rounds.", "",
        "| variant | XLA_FLAGS | feature layout | supervised step (s) | / PyTorch | "
        f"3x3 conv {width}->{width}, fwd+bwd (s) | / PyTorch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        settings = f"| {r['variant']} | {'`' + r['xla_flags'] + '`' if r['xla_flags'] else '–'} | {r['feature_layout']} "
        if "error" in r:
            lines.append(f"{settings}| failed: {r['error'].replace('|', '/')} | | | |")
            continue
        lines.append(
            f"{settings}"
            f"| {r['supervised_seconds']:.3f} | **{r['supervised_over_torch']:.2f}x** "
            f"| {r['conv_seconds']:.4f} | **{r['conv_over_torch']:.2f}x** |")
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def main(argv):
    del argv
    if FLAGS.worker:
        run_worker()
        return
    if FLAGS.quick:
        FLAGS.config, FLAGS.rounds, FLAGS.steps, FLAGS.warmup = "quick", 2, 1, 1
    if FLAGS.config not in vs_reference.CONFIGS:
        raise app.UsageError(f"--config must be one of {sorted(vs_reference.CONFIGS)}. Received: {FLAGS.config!r}")
    unknown = [v for v in FLAGS.variants if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"--variants must name entries of {sorted(VARIANTS)}. Received: {unknown}")
    import jax
    import torch

    start = time.time()
    rows = measure()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit, "config": FLAGS.config, "jax": jax.__version__, "torch": torch.__version__,
        "rounds": FLAGS.rounds, "steps": FLAGS.steps, "seconds": round(time.time() - start, 1),
        "command": "python benchmarks/xla_cpu.py " + " ".join(sys.argv[1:]),
    }
    vs_reference.write_outputs(FLAGS.output, {"meta": meta, "variants": rows}, markdown(rows, meta))


if __name__ == "__main__":
    define_flags()
    app.run(main)
