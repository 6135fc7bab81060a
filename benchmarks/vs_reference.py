r"""keras_adios' ADIOS step against the authors' per-batch procedure, side by side.

The reference is our own PyTorch re-creation of what the authors' code does
in one SimCLR-ADIOS training batch (written from the paper and the code's
structure; `docs/algorithm.md` says where keras_adios computes less):

1. encoder step: masks `m = M(x2)` without gradients; for each of the N masks,
   `f(x1)` and `f(x2 * (1 - m_n))` through encoder and projector (f(x1) is
   recomputed inside the loop), NT-Xent summed over masks; optionally
   (`--classifier`) the online classifier on the detached features of both
   unmasked views (one more pass of `x2`); backward; SGD step;
2. masker step: encoder, projector (and classifier) set to
   `requires_grad=False`; the masks recomputed with gradients; the same loop
   over masks minus the sparsity penalty; backward of the negative; SGD step.

The keras_adios side is `keras_adios.ADIOS` with the same encoder (ResNet-18,
CIFAR stem, width `w`), projector (2048 -> 128), mask generator (UNet with
GroupNorm, 32 base filters, N masks) and optimiser (SGD 0.01, momentum 0.9),
compiled as `fit` would (TensorFlow by default). Both run on the same fixed
in-memory batch.

Timing. Two long-lived worker processes (PyTorch, Keras) are built and warmed
up once, then alternate: in every round each times `--steps` ADIOS steps and
`--steps` plain supervised steps of the same encoder (linear head,
cross-entropy, the same SGD), never at the same time. Reported per config:

* the ADIOS step ratio (PyTorch reference / keras_adios), median over rounds
  of the per-round ratios;
* the supervised step ratio (PyTorch / Keras): the frameworks' per-op speed
  on this machine, measured in the same rounds;
* the ceiling: supervised ratio x pass-count ratio, where passes are encoder
  forward-equivalents (forward 1, backward with weight gradients 2, backward
  with input gradients only 1): for N masks the reference does
  `2N (+2) + 2 * 2N` in the encoder step and `2N + N` in the masker step
  (36 at N = 4, 38 with the classifier), keras_adios
  `(N + 1) + 2 (N + 1)` and `(N + 1) + N` (24 at N = 4); the mask generator's
  own passes (reference 2 forwards + 1 backward, keras_adios 1 + 1) are left
  out of the count, so the ceiling slightly understates the reference's cost;
* measured / ceiling.

Nothing needs a network or a GPU; the PyTorch side uses the project's pinned
torch (`pip install -e .[torch]`). Results: `OUTPUT.json` and `OUTPUT.md`.

```shell
nice -n 5 python benchmarks/vs_reference.py                       # both configs, about 20 min on 2 cores
python benchmarks/vs_reference.py --quick --output=/tmp/vs_ref    # smoke run, a minute
```
"""

import datetime
import json
import os
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: name -> (ResNet-18 width, batch size).
CONFIGS = {"w32_b64": (32, 64), "w64_b256": (64, 256), "quick": (8, 8)}
IMAGE_SIZE = 32
NUM_CLASSES = 10
HIDDEN, PROJECTION = 2048, 128
LEARNING_RATE = 0.01

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_list("configs", ["w32_b64", "w64_b256"], f"Configurations among {sorted(CONFIGS)}.")
    flags.DEFINE_integer("num_masks", 4, "N.")
    flags.DEFINE_integer("masker_filters", 32, "UNet base filters (mask_fbase).")
    flags.DEFINE_bool("classifier", False, "Reference: the online classifier on both views (authors' code).")
    flags.DEFINE_integer("rounds", 5, "Alternating rounds (medians are reported).")
    flags.DEFINE_integer("steps", 2, "Timed steps per kind and framework per round.")
    flags.DEFINE_integer("warmup", 2, "Untimed steps per kind before the rounds.")
    flags.DEFINE_integer("threads", 0, "Intra-op threads of both frameworks (0: all cores).")
    flags.DEFINE_bool("joint", False, "Also time keras_adios' joint encoder phase "
                      "(per_view_backward=False, one backward through all N masked views) in a third "
                      "worker, 'keras_joint', beside the default lean one.")
    flags.DEFINE_bool("reference", True, "Run the PyTorch reference worker (--noreference with --joint: "
                      "lean vs joint only, e.g. where three workers would not fit in memory).")
    flags.DEFINE_bool("quick", False, "Tiny smoke configuration.")
    flags.DEFINE_string("output", os.path.join(ROOT, "benchmarks", "results", "vs_reference"),
                        "Writes OUTPUT.json and OUTPUT.md.")
    flags.DEFINE_string("worker", None, "Internal: run as the 'torch' or 'keras' worker.")
    flags.DEFINE_string("config", None, "Internal: the worker's configuration.")


def pass_counts(num_masks, classifier):
    """Encoder forward-equivalents per step: (reference, keras_adios)."""
    n = num_masks
    reference = (2 * n + (2 if classifier else 0)) + 2 * 2 * n + 2 * n + n
    ours = (n + 1) + 2 * (n + 1) + (n + 1) + n
    return reference, ours


# ============================================================================
# The PyTorch reference
# ============================================================================


def torch_models(width, num_masks, filters):
    import torch
    from torch import nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.b1(self.c1(x)))
            out = self.b2(self.c2(out))
            return F.relu(out + (x if self.short is None else self.short(x)))

    class ResNet18(nn.Module):
        """ResNet-18 with the CIFAR stem (3x3 conv, no max-pool), as solo-learn builds it."""

        def __init__(self, w):
            super().__init__()
            # solo-learn's CIFAR stem: 3x3, stride 1, padding 2 (as keras_adios.encoders.ResNet18).
            self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 1, 2, bias=False), nn.BatchNorm2d(w), nn.ReLU())
            layers, cin = [], w
            for i, cout in enumerate([w, 2 * w, 4 * w, 8 * w]):
                stride = 1 if i == 0 else 2
                layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.out_dim = 8 * w

        def forward(self, x):
            return torch.flatten(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1)

    def conv_block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.GroupNorm(8, cout), nn.ReLU())

    class UNet(nn.Module):
        """The authors' mask UNet: subsampling down, MLP bottleneck, nearest up, softmax over N."""

        def __init__(self, n, c, size=IMAGE_SIZE):
            super().__init__()
            nb = int(torch.log2(torch.tensor(float(size))).item() - 1)
            enc = [c] * (nb - 3) + [2 * c] * 3
            dec = [2 * c, 2 * c] + [c] * (nb - 2)
            self.down = nn.ModuleList()
            cin = 3
            for cout in enc:
                self.down.append(conv_block(cin, cout))
                cin = cout
            f = size // 2 ** (nb - 1)
            flat = enc[-1] * f * f
            self.mlp = nn.Sequential(nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                                     nn.Linear(128, flat), nn.ReLU())
            self.f, self.c_bottleneck = f, enc[-1]
            self.up = nn.ModuleList()
            x_channels = enc[-1]
            for i, cout in enumerate(dec):
                self.up.append(conv_block(x_channels + enc[-1 - i], cout))
                x_channels = cout
            self.head = nn.Conv2d(x_channels, n, 1)

        def forward(self, x):
            skips = []
            for i, block in enumerate(self.down):
                x = block(x)
                skips.append(x)
                if i < len(self.down) - 1:
                    x = F.interpolate(x, scale_factor=0.5, mode="nearest")
            x = self.mlp(torch.flatten(x, 1)).view(-1, self.c_bottleneck, self.f, self.f)
            for i, block in enumerate(self.up):
                x = block(torch.cat([x, skips[-1 - i]], dim=1))
                if i < len(self.up) - 1:
                    x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            return torch.softmax(self.head(x), dim=1)

    encoder = ResNet18(width)
    projector = nn.Sequential(nn.Linear(encoder.out_dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, PROJECTION))
    classifier = nn.Linear(encoder.out_dim, NUM_CLASSES)
    masker = UNet(num_masks, filters)
    return encoder, projector, classifier, masker


def torch_worker(width, batch, num_masks, filters, classifier_on):
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    encoder, projector, classifier, masker = torch_models(width, num_masks, filters)
    rng = np.random.default_rng(0)
    x1 = torch.tensor(rng.normal(size=(batch, 3, IMAGE_SIZE, IMAGE_SIZE)).astype("float32"))
    x2 = torch.tensor(rng.normal(size=(batch, 3, IMAGE_SIZE, IMAGE_SIZE)).astype("float32"))
    y = torch.tensor(rng.integers(0, NUM_CLASSES, batch))
    online = list(encoder.parameters()) + list(projector.parameters()) + list(classifier.parameters())
    opt_i = torch.optim.SGD(online, lr=LEARNING_RATE, momentum=0.9)
    opt_m = torch.optim.SGD(masker.parameters(), lr=LEARNING_RATE, momentum=0.9)
    head = torch.nn.Linear(encoder.out_dim, NUM_CLASSES)
    opt_s = torch.optim.SGD(list(encoder.parameters()) + list(head.parameters()), lr=LEARNING_RATE, momentum=0.9)

    def nt_xent(z1, z2, t=0.2):
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        b = z1.shape[0]
        logits = z @ z.t() / t
        logits.fill_diagonal_(float("-inf"))
        target = torch.cat([torch.arange(b) + b, torch.arange(b)])
        return F.cross_entropy(logits, target)

    def set_online_grad(flag):
        for p in online:
            p.requires_grad_(flag)

    def adios_step():
        # 1. encoder step: masks without gradients, f(x1) inside the loop.
        set_online_grad(True)
        opt_i.zero_grad()
        with torch.no_grad():
            m = masker(x2)
        loss = 0.0
        for n in range(num_masks):
            z1 = projector(encoder(x1))
            z2 = projector(encoder(x2 * (1 - m[:, n : n + 1])))
            loss = loss + nt_xent(z1, z2)
        if classifier_on:
            f1, f2 = encoder(x1).detach(), encoder(x2).detach()
            loss = loss + (F.cross_entropy(classifier(f1), y) + F.cross_entropy(classifier(f2), y)) / 2
        loss.backward()
        opt_i.step()
        # 2. masker step: encoder frozen, masks recomputed.
        set_online_grad(False)
        opt_m.zero_grad()
        m = masker(x2)
        similarity = 0.0
        for n in range(num_masks):
            z1 = projector(encoder(x1))
            z2 = projector(encoder(x2 * (1 - m[:, n : n + 1])))
            coverage = m[:, n].mean(dim=(1, 2))
            similarity = similarity + nt_xent(z1, z2) - (1 / (torch.sin(torch.pi * coverage) + 1e-10)).mean()
        (-similarity).backward()
        opt_m.step()

    def supervised_step():
        set_online_grad(True)
        opt_s.zero_grad()
        F.cross_entropy(head(encoder(x1)), y).backward()
        opt_s.step()

    return {"adios": adios_step, "supervised": supervised_step}


# ============================================================================
# keras_adios
# ============================================================================


def keras_worker(width, batch, num_masks, filters, classifier_on, lean=True):
    import keras
    import numpy as np

    sys.path.insert(0, ROOT)
    import keras_adios

    keras.utils.set_random_seed(0)
    shape = (IMAGE_SIZE, IMAGE_SIZE, 3)
    encoder = keras_adios.encoders.ResNet18(input_shape=shape, stem="cifar", width=width)
    model = keras_adios.ADIOS(
        encoder,
        keras_adios.layers.MaskGenerator(num_masks=num_masks, filters=filters, norm="group"),
        objective=keras_adios.objectives.SimCLR(temperature=0.2, hidden_dim=HIDDEN, projection_dim=PROJECTION),
        num_classes=NUM_CLASSES if classifier_on else None,
        seed=0,
        per_view_backward=lean,
    )
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
        masker_optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
    )
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(batch,) + shape).astype("float32")
    x2 = rng.normal(size=(batch,) + shape).astype("float32")
    y = rng.integers(0, NUM_CLASSES, batch).astype("int32")
    supervised = keras.Sequential([encoder, keras.layers.Dense(NUM_CLASSES)])
    supervised.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    data = ((x1, x2), y) if classifier_on else (x1, x2)

    def adios_step():
        if classifier_on:
            model.train_on_batch(data[0], data[1])
        else:
            model.train_on_batch(data)

    def supervised_step():
        supervised.train_on_batch(x1, y)

    return {"adios": adios_step, "supervised": supervised_step}


def run_worker():
    width, batch = CONFIGS[FLAGS.config]
    if FLAGS.threads:
        os.environ["OMP_NUM_THREADS"] = str(FLAGS.threads)
    if FLAGS.worker == "torch":
        import torch

        if FLAGS.threads:
            torch.set_num_threads(FLAGS.threads)
        steps = torch_worker(width, batch, FLAGS.num_masks, FLAGS.masker_filters, FLAGS.classifier)
    else:
        steps = keras_worker(width, batch, FLAGS.num_masks, FLAGS.masker_filters, FLAGS.classifier,
                             lean=FLAGS.worker != "keras_joint")
    for kind in ("adios", "supervised"):
        for _ in range(FLAGS.warmup):
            steps[kind]()
    print("READY", flush=True)
    for line in sys.stdin:
        kind, count = line.split()
        wall, cpu = [], []
        reset_peak_memory(FLAGS.worker)
        for _ in range(int(count)):
            start, cpu_start = time.perf_counter(), time.process_time()
            steps[kind]()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
        print(json.dumps({"wall": wall, "cpu": cpu, **peak_memory(FLAGS.worker)}), flush=True)


def reset_peak_memory(framework):
    """Starts a new peak: the process's resident high-water mark (Linux) and the GPU's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    except OSError:
        pass  # not Linux: the peak is then the process's lifetime peak (ru_maxrss)
    if framework == "torch" or os.environ.get("KERAS_BACKEND") == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
    elif os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            tf.config.experimental.reset_memory_stats("GPU:0")


def peak_memory(framework):
    """`{"peak_rss_mb", "device_peak_mb"}` since `reset_peak_memory` (device: None without a GPU).

    The CPU figure is the worker process's peak resident memory (VmHWM), the
    GPU figure the framework's own peak of allocated device memory (PyTorch's
    `max_memory_allocated`, TensorFlow's `get_memory_info` peak, JAX's
    `peak_bytes_in_use`, which JAX does not reset: its lifetime peak).
    """
    rss = None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1]) / 1024
    except OSError:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    device = None
    if framework == "torch":
        import torch

        if torch.cuda.is_available():
            device = torch.cuda.max_memory_allocated() / 2**20
    else:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_logical_devices("GPU"):
                device = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        elif backend == "jax":
            import jax

            gpu = [d for d in jax.devices() if d.platform == "gpu"]
            if gpu:
                device = (gpu[0].memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**20
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                device = torch.cuda.max_memory_allocated() / 2**20
    return {"peak_rss_mb": rss, "device_peak_mb": device}


# ============================================================================
# The driver
# ============================================================================


def start_worker(framework, config):
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"),
               TF_CPP_MIN_LOG_LEVEL="3")
    args = [sys.executable, os.path.abspath(__file__), f"--worker={framework}", f"--config={config}",
            f"--num_masks={FLAGS.num_masks}", f"--masker_filters={FLAGS.masker_filters}",
            f"--warmup={FLAGS.warmup}", f"--threads={FLAGS.threads}",
            "--classifier" if FLAGS.classifier else "--noclassifier"]
    process = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.strip() == "READY":
            return process
    raise RuntimeError(f"The {framework} worker for {config} exited before it was ready (see its stderr).")


def ask(process, kind, steps):
    process.stdin.write(f"{kind} {steps}\n")
    process.stdin.flush()
    return json.loads(process.stdout.readline())


def measure(config):
    names = (["torch"] if FLAGS.reference else []) + ["keras"] + (["keras_joint"] if FLAGS.joint else [])
    workers = {fw: start_worker(fw, config) for fw in names}
    times = {(fw, kind): [] for fw in workers for kind in ("adios", "supervised")}
    cpu = {key: [] for key in times}
    memory = {key: {"peak_rss_mb": [], "device_peak_mb": []} for key in times}
    try:
        for r in range(FLAGS.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for kind in ("adios", "supervised"):
                for fw in order:
                    result = ask(workers[fw], kind, FLAGS.steps)
                    times[(fw, kind)].append(statistics.median(result["wall"]))
                    cpu[(fw, kind)].append(statistics.median(result["cpu"]))
                    for key in memory[(fw, kind)]:
                        if result.get(key) is not None:
                            memory[(fw, kind)][key].append(result[key])
            print(f"[{config}] round {r + 1}/{FLAGS.rounds}: "
                  + ", ".join(f"{fw} {kind} {times[(fw, kind)][-1]:.3f}s" for fw, kind in times), flush=True)
    finally:
        for process in workers.values():
            process.stdin.close()
            process.wait(timeout=60)
    width, batch = CONFIGS[config]
    out = {
        "config": config, "width": width, "batch_size": batch, "num_masks": FLAGS.num_masks,
        "step_seconds": {f"{fw}_{kind}": statistics.median(v) for (fw, kind), v in times.items()},
        "cpu_seconds": {f"{fw}_{kind}": statistics.median(v) for (fw, kind), v in cpu.items()},
        # The largest peak over the rounds, per worker and step (MB), and keras_adios / reference.
        "peak_memory_mb": {f"{fw}_{kind}_{key.split('_')[1]}": max(v) for (fw, kind), keys in memory.items()
                           for key, v in keys.items() if v},
    }

    def ratios(a, b, kind):  # per-round time ratios a / b
        return [x / y for x, y in zip(times[(a, kind)], times[(b, kind)])]

    if FLAGS.reference:
        adios, supervised = ratios("torch", "keras", "adios"), ratios("torch", "keras", "supervised")
        reference_passes, our_passes = pass_counts(FLAGS.num_masks, FLAGS.classifier)
        measured = statistics.median(adios)
        per_op = statistics.median(supervised)
        ceiling = per_op * reference_passes / our_passes
        out.update({
            "adios_ratios_per_round": adios, "supervised_ratios_per_round": supervised,
            "measured_ratio": measured, "supervised_ratio": per_op,
            "passes": {"reference": reference_passes, "keras_adios": our_passes},
            "ceiling": ceiling, "measured_over_ceiling": measured / ceiling,
        })
        for key in ("rss", "device"):
            ours, ref = (out["peak_memory_mb"].get(f"{fw}_adios_{key}") for fw in ("keras", "torch"))
            out[f"adios_{key}_memory_ratio"] = ours / ref if ours and ref else None
    if FLAGS.joint:
        # Lean / joint: time (median of per-round ratios; below 1: lean is faster) and peak memory.
        lean_over_joint = ratios("keras", "keras_joint", "adios")
        out["lean_over_joint_time_per_round"] = lean_over_joint
        out["lean_over_joint_time"] = statistics.median(lean_over_joint)
        for key in ("rss", "device"):
            lean, joint = (out["peak_memory_mb"].get(f"{fw}_adios_{key}") for fw in ("keras", "keras_joint"))
            out[f"lean_over_joint_{key}_memory"] = lean / joint if lean and joint else None
    return out


def markdown(rows, meta):
    lines = [
        "# keras_adios vs the authors' per-batch procedure (PyTorch re-creation), side by side",
        "",
        f"Written by `benchmarks/vs_reference.py` on {meta['date']} at commit `{meta['commit']}`; Keras "
        f"backend {meta['backend']}, torch {meta['torch']}, {meta['rounds']} alternating rounds x "
        f"{meta['steps']} steps, N = {meta['num_masks']}, classifier on both views: {meta['classifier']}. "
        "Ratios are PyTorch reference time / keras_adios time (above 1: keras_adios is faster), median "
        "of per-round ratios. Ceiling = supervised-step ratio (the frameworks' per-op speed, same "
        "rounds) x encoder pass-count ratio "
        "({} / {} forward-equivalents).".format(*pass_counts(meta["num_masks"], meta["classifier"])),
        "",
        "| config | ADIOS step: torch ref / keras_adios (s) | measured ratio | supervised step: torch / keras (s) "
        "| supervised ratio | ceiling | measured / ceiling | per-round ADIOS ratios "
        "| ADIOS peak memory: torch ref / keras_adios (GB) | memory ratio keras_adios / ref |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["step_seconds"]
        if "measured_ratio" not in r:
            continue
        lines.append(
            f"| {r['config']} (ResNet-18 width {r['width']}, batch {r['batch_size']}) "
            f"| {s['torch_adios']:.2f} / {s['keras_adios']:.2f} | **{r['measured_ratio']:.2f}x** "
            f"| {s['torch_supervised']:.3f} / {s['keras_supervised']:.3f} | {r['supervised_ratio']:.2f}x "
            f"| {r['ceiling']:.2f}x | {r['measured_over_ceiling']:.2f} "
            f"| {', '.join(f'{v:.2f}' for v in r['adios_ratios_per_round'])} "
            f"| {_memory_cell(r)} |"
        )
    joint_rows = [r for r in rows if "lean_over_joint_time" in r]
    if joint_rows:
        lines += [
            "",
            "keras_adios' per-view backward (the default, `per_view_backward=True`: one masked view back-propagated at a time in both phases) "
            "against the joint one (`per_view_backward=False`: one backward through all N masked views, "
            "as the authors' code does), same rounds:",
            "",
            "| config | ADIOS step: joint / lean (s) | time lean / joint | peak memory: joint / lean (GB) "
            "| memory lean / joint |",
            "|---|---|---|---|---|",
        ]
        for r in joint_rows:
            s, m = r["step_seconds"], r["peak_memory_mb"]
            memory_ratio = r.get("lean_over_joint_rss_memory")
            memory = "– | –"
            if memory_ratio:
                memory = (f"{m['keras_joint_adios_rss'] / 1024:.2f} / {m['keras_adios_rss'] / 1024:.2f} "
                          f"| **{memory_ratio:.2f}x**")
            lines.append(
                f"| {r['config']} (ResNet-18 width {r['width']}, batch {r['batch_size']}) "
                f"| {s['keras_joint_adios']:.2f} / {s['keras_adios']:.2f} | **{r['lean_over_joint_time']:.2f}x** "
                f"| {memory} |"
            )
    lines += [
        "",
        "Peak memory: each worker's peak resident memory (VmHWM, reset before every request) while it "
        "ran its ADIOS steps, the largest over the rounds; on a GPU also the framework's peak of "
        "allocated device memory. The workers never run at the same time.",
        "",
        f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def _memory_cell(row):
    m = row.get("peak_memory_mb") or {}
    cells = []
    for key, label in (("rss", "RSS"), ("device", "GPU")):
        ref, ours = m.get(f"torch_adios_{key}"), m.get(f"keras_adios_{key}")
        if ref and ours:
            cells.append(f"{label} {ref / 1024:.2f} / {ours / 1024:.2f} | **{ours / ref:.2f}x**")
    return " ; ".join(cells) if cells else "– | –"


def main(argv):
    del argv
    if FLAGS.worker:
        run_worker()
        return
    configs = ["quick"] if FLAGS.quick else FLAGS.configs
    if FLAGS.quick:
        FLAGS.rounds, FLAGS.steps, FLAGS.warmup, FLAGS.masker_filters = 2, 1, 1, 8
    for config in configs:
        if config not in CONFIGS:
            raise app.UsageError(f"--configs must name entries of {sorted(CONFIGS)}. Received: {config!r}")
    import torch

    start = time.time()
    rows = [measure(config) for config in configs]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit, "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "torch": torch.__version__, "rounds": FLAGS.rounds, "steps": FLAGS.steps,
        "num_masks": FLAGS.num_masks, "classifier": FLAGS.classifier,
        "seconds": round(time.time() - start, 1),
        "command": "python benchmarks/vs_reference.py " + " ".join(sys.argv[1:]),
    }
    write_outputs(FLAGS.output, {"meta": meta, "configs": rows}, markdown(rows, meta))


def write_outputs(output, payload, table):
    """Writes `output`.json (the payload) and `output`.md (the table), and prints the table."""
    os.makedirs(os.path.dirname(os.path.abspath(output)) or ".", exist_ok=True)
    with open(output + ".json", "w") as f:
        json.dump(payload, f, indent=2)
    with open(output + ".md", "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    define_flags()
    app.run(main)
