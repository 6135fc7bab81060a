r"""Where a JAX convolution's time goes on a CPU: forward, input gradient, kernel gradient.

`benchmarks/xla_cpu.py` found a 3x3 convolution (64 -> 64 channels, batch 256,
34 x 34 maps: the first stage of ResNet-18 width 64 on CIFAR) about 6x slower
forward-and-backward under JAX than under PyTorch on this CPU, whatever XLA
flags were set. This script times its three parts on their own, in one
process, each jitted (JAX) or eager (PyTorch), best of `--repeats`:

* `forward`: the convolution;
* `input_gradient`: its vector-Jacobian product w.r.t. the input only;
* `kernel_gradient`: its vector-Jacobian product w.r.t. the kernel only;
* `kernel_gradient_matmul` (JAX): the same kernel gradient as
  `keras_adios.layers.Conv2D(kernel_gradient="matmul")` computes it, one matrix product
  per kernel tap (`keras_adios/utils/jax_conv.py`), and its largest
  difference from XLA's, relative to the largest entry.

```shell
python benchmarks/conv_gradients.py --output=benchmarks/results/conv_gradients_jax   # about a minute
python benchmarks/conv_gradients.py --quick --output=/tmp/conv_gradients            # smoke run
```

Writes `OUTPUT.json` and `OUTPUT.md`. Nothing needs a network or a GPU.
"""

import datetime
import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = ("forward", "input_gradient", "kernel_gradient", "kernel_gradient_matmul")

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_integer("batch", 256, "Batch size.")
    flags.DEFINE_integer("size", 34, "Height and width of the input maps.")
    flags.DEFINE_integer("channels", 64, "Input and output channels.")
    flags.DEFINE_integer("kernel", 3, "Kernel size.")
    flags.DEFINE_integer("repeats", 3, "Timed calls per part (the best is reported).")
    flags.DEFINE_bool("quick", False, "Tiny smoke configuration.")
    flags.DEFINE_string("output", os.path.join(ROOT, "benchmarks", "results", "conv_gradients_jax"),
                        "Writes OUTPUT.json and OUTPUT.md.")


def best_time(fn, repeats):
    fn()  # compile / warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def jax_times(x, kernel, upstream, repeats):
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, ROOT)
    from keras_adios.utils import jax_conv

    x, kernel, upstream = jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(upstream)
    conv = jax.jit(lambda a, k: jax_conv._conv(a, k, (1, 1)))
    input_vjp = jax.jit(lambda a, k, g: jax.vjp(lambda a_: jax_conv._conv(a_, k, (1, 1)), a)[1](g)[0])
    kernel_vjp = jax.jit(lambda a, k, g: jax.vjp(lambda k_: jax_conv._conv(a, k_, (1, 1)), k)[1](g)[0])
    matmul = jax.jit(lambda a, g: jax_conv.kernel_gradient(a, g, kernel.shape, (1, 1)))
    times = {
        "forward": best_time(lambda: conv(x, kernel).block_until_ready(), repeats),
        "input_gradient": best_time(lambda: input_vjp(x, kernel, upstream).block_until_ready(), repeats),
        "kernel_gradient": best_time(lambda: kernel_vjp(x, kernel, upstream).block_until_ready(), repeats),
        "kernel_gradient_matmul": best_time(lambda: matmul(x, upstream).block_until_ready(), repeats),
    }
    reference, ours = kernel_vjp(x, kernel, upstream), matmul(x, upstream)
    difference = float(jnp.max(jnp.abs(ours - reference)) / jnp.max(jnp.abs(reference)))
    return times, difference


def torch_times(x, kernel, upstream, repeats):
    import torch

    x = torch.tensor(x).permute(0, 3, 1, 2).contiguous()
    kernel = torch.tensor(kernel).permute(3, 2, 0, 1).contiguous()
    upstream = torch.tensor(upstream).permute(0, 3, 1, 2).contiguous()

    def forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, kernel)

    return {
        "forward": best_time(forward, repeats),
        "input_gradient": best_time(lambda: torch.nn.grad.conv2d_input(x.shape, kernel, upstream), repeats),
        "kernel_gradient": best_time(lambda: torch.nn.grad.conv2d_weight(x, kernel.shape, upstream), repeats),
    }


def markdown(result):
    meta, jax_t, torch_t = result["meta"], result["jax_seconds"], result["torch_seconds"]
    lines = [
        "# A convolution's parts on a CPU: JAX (XLA) against PyTorch", "",
        f"Written by `benchmarks/conv_gradients.py` on {meta['date']} at commit `{meta['commit']}`; jax "
        f"{meta['jax']}, torch {meta['torch']}; {meta['kernel']}x{meta['kernel']} \"valid\" convolution, "
        f"{meta['channels']} -> {meta['channels']} channels, batch {meta['batch']}, {meta['size']} x "
        f"{meta['size']} maps (NHWC in JAX, NCHW in PyTorch), best of {meta['repeats']} calls, one process.", "",
        "| part | JAX (s) | PyTorch (s) | JAX / PyTorch |", "|---|---|---|---|",
    ]
    for part in PARTS:
        reference = torch_t.get(part, torch_t["kernel_gradient"])
        label = ('kernel gradient, one matrix product per tap (`keras_adios.layers.Conv2D(kernel_gradient="matmul")`)'
                 if part == "kernel_gradient_matmul" else part.replace("_", " "))
        lines.append(f"| {label} | {jax_t[part]:.4f} | {reference:.4f} | **{jax_t[part] / reference:.2f}x** |")
    lines += [
        "", f"The matrix-product kernel gradient is **{jax_t['kernel_gradient'] / jax_t['kernel_gradient_matmul']:.1f}x** "
        f"faster than XLA's own; largest difference from XLA's, relative to its largest entry: "
        f"{result['matmul_relative_difference']:.1e} (float32 rounding).", "",
        f"Command: `{meta['command']}`", "",
    ]
    return "\n".join(lines)


def main(argv):
    del argv
    if FLAGS.quick:
        FLAGS.batch, FLAGS.size, FLAGS.channels, FLAGS.repeats = 2, 10, 4, 1
    for name in ("batch", "size", "channels", "kernel", "repeats"):
        if getattr(FLAGS, name) < 1:
            raise app.UsageError(f"--{name} must be at least 1. Received: {getattr(FLAGS, name)}")
    if FLAGS.kernel > FLAGS.size:
        raise app.UsageError(f"--kernel must not exceed --size. Received: kernel={FLAGS.kernel}, size={FLAGS.size}")
    import jax
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    c, k, out = FLAGS.channels, FLAGS.kernel, FLAGS.size - FLAGS.kernel + 1
    x = rng.normal(size=(FLAGS.batch, FLAGS.size, FLAGS.size, c)).astype("float32")
    kernel = (rng.normal(size=(k, k, c, c)) * 0.05).astype("float32")
    upstream = rng.normal(size=(FLAGS.batch, out, out, c)).astype("float32")
    jax_t, difference = jax_times(x, kernel, upstream, FLAGS.repeats)
    torch_t = torch_times(x, kernel, upstream, FLAGS.repeats)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    result = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit, "jax": jax.__version__, "torch": torch.__version__, "batch": FLAGS.batch,
            "size": FLAGS.size, "channels": c, "kernel": k, "repeats": FLAGS.repeats,
            "command": "python benchmarks/conv_gradients.py " + " ".join(sys.argv[1:]),
        },
        "jax_seconds": jax_t, "torch_seconds": torch_t, "matmul_relative_difference": difference,
    }
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)) or ".", exist_ok=True)
    with open(FLAGS.output + ".json", "w") as f:
        json.dump(result, f, indent=2)
    with open(FLAGS.output + ".md", "w") as f:
        f.write(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    define_flags()
    app.run(main)
