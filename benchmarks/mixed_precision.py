r"""Mixed precision against float32: one ADIOS step timed side by side, per dtype policy.

Builds the same ADIOS model (SimCLR, N masks, `SmallResNet`, GroupNorm UNet
masker, SGD) once per Keras dtype policy (`float32`, `mixed_bfloat16`,
`mixed_float16`; float16 with ADIOS' dynamic loss scale), all in one process
on the current backend, and times their training steps in interleaved
rounds. Reported: the median over rounds of each policy's step time divided
by float32's in the same round (above 1: slower than float32), and each
policy's loss after the timed steps next to float32's (the same data: the
runs must train alike).

Mixed precision pays where the hardware has fast 16-bit units (GPU tensor
cores, TPUs, CPUs with AMX through oneDNN); this measures what it does on
the machine it runs on. Needs no network and no GPU.

Usage:

```shell
KERAS_BACKEND=tensorflow python benchmarks/mixed_precision.py --output=benchmarks/results/mixed_precision_tensorflow
python benchmarks/mixed_precision.py --quick   # smoke run
```
"""

import datetime
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FLAGS = flags.FLAGS
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")

flags.DEFINE_list("policies", list(POLICIES), "Dtype policies to time (float32 is always included).")
flags.DEFINE_integer("batch_size", 64, "Images per batch (each with two views).")
flags.DEFINE_integer("image_size", 32, "Height and width of the images.")
flags.DEFINE_list("widths", ["32", "64", "128"], "SmallResNet stage widths.")
flags.DEFINE_integer("num_masks", 4, "N.")
flags.DEFINE_integer("masker_filters", 32, "MaskGenerator base width.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds (the median ratio is reported).")
flags.DEFINE_integer("steps_per_round", 2, "Timed steps per policy per round.")
flags.DEFINE_integer("warmup_steps", 2, "Untimed steps per policy first (tracing, the loss scale settling).")
flags.DEFINE_bool("quick", False, "Tiny smoke configuration.")
flags.DEFINE_string("output", None, "Writes PATH.json and PATH.md (suffix stripped).")


def build(policy):
    """The model under `policy` (the global policy is restored afterwards)."""
    import keras
    import keras_adios

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        shape = (FLAGS.image_size, FLAGS.image_size, 3)
        model = keras_adios.ADIOS(
            keras_adios.encoders.SmallResNet(input_shape=shape, widths=tuple(int(w) for w in FLAGS.widths)),
            keras_adios.layers.MaskGenerator(num_masks=FLAGS.num_masks, filters=FLAGS.masker_filters),
            objective=keras_adios.objectives.SimCLR(hidden_dim=512, projection_dim=128),
            seed=0,
        )
        model.compile(
            encoder_optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            masker_optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        )
        return model
    finally:
        keras.config.set_dtype_policy(previous)


def step(model, views):
    logs = model.train_on_batch(views, return_dict=True)
    return {k: float(np.asarray(v)) for k, v in logs.items()}


def main(argv):
    del argv
    import keras

    if FLAGS.quick:
        FLAGS.batch_size, FLAGS.image_size, FLAGS.widths = 8, 16, ["8", "16"]
        FLAGS.masker_filters, FLAGS.rounds, FLAGS.steps_per_round, FLAGS.warmup_steps = 8, 1, 1, 1
    policies = ["float32"] + [p for p in FLAGS.policies if p != "float32"]
    for p in policies:
        if p not in POLICIES:
            raise ValueError(f"--policies must be among {', '.join(POLICIES)}. Received: {p!r}")
    rng = np.random.default_rng(0)
    shape = (FLAGS.batch_size, FLAGS.image_size, FLAGS.image_size, 3)
    views = tuple(keras.ops.convert_to_tensor(rng.standard_normal(shape).astype("float32")) for _ in range(2))
    models = {p: build(p) for p in policies}
    logs = {}
    for p in policies:
        for _ in range(FLAGS.warmup_steps):
            logs[p] = step(models[p], views)
    times = {p: [] for p in policies}
    for r in range(FLAGS.rounds):
        for p in policies if r % 2 == 0 else policies[::-1]:
            start = time.perf_counter()
            for _ in range(FLAGS.steps_per_round):
                logs[p] = step(models[p], views)
            times[p].append((time.perf_counter() - start) / FLAGS.steps_per_round)
        logging.info("round %d/%d: %s", r + 1, FLAGS.rounds, {p: round(t[-1], 3) for p, t in times.items()})
    rows = []
    for p in policies:
        ratios = [t / f for t, f in zip(times[p], times["float32"])]
        rows.append({
            "policy": p,
            "median_step_seconds": float(np.median(times[p])),
            "ratio_to_float32": float(np.median(ratios)),
            "per_round_ratios": [round(x, 3) for x in ratios],
            "loss": logs[p]["loss"],
            "loss_scale": logs[p].get("loss_scale"),
            "nonfinite": logs[p]["nonfinite"],
        })
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit, "backend": keras.backend.backend(),
        "config": {k: getattr(FLAGS, k) for k in ("batch_size", "image_size", "widths", "num_masks",
                                                   "masker_filters", "rounds", "steps_per_round", "warmup_steps")},
    }
    lines = [
        "# Mixed precision against float32, side by side",
        "",
        f"Written by `benchmarks/mixed_precision.py` on {meta['date']} at commit `{commit}`, backend "
        f"{meta['backend']}; one ADIOS step (SimCLR, N = {FLAGS.num_masks}, SmallResNet "
        f"{','.join(FLAGS.widths)}, {FLAGS.image_size} px, batch {FLAGS.batch_size}, SGD), "
        f"{FLAGS.rounds} interleaved rounds x {FLAGS.steps_per_round} steps after {FLAGS.warmup_steps} "
        "warm-up steps. Ratio: the policy's step time / float32's in the same round, median over "
        "rounds (above 1: slower). Loss: after the same steps on the same batch.",
        "",
        "| policy | step (s) | time ratio to float32 | per-round ratios | loss (float32's) | loss scale |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['policy']} | {row['median_step_seconds']:.3f} | **{row['ratio_to_float32']:.2f}x** | "
            f"{', '.join(str(x) for x in row['per_round_ratios'])} | {row['loss']:.4f} "
            f"({rows[0]['loss']:.4f}) | {row['loss_scale'] if row['loss_scale'] is not None else '-'} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if FLAGS.output:
        base = os.path.splitext(FLAGS.output)[0]
        os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)
        with open(base + ".json", "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
        with open(base + ".md", "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
