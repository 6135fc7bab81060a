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
BYOL_PROJECTION = 256  # BYOL's projector and predictor output (hidden HIDDEN, as the SimCLR projector)
LEARNING_RATE = 0.01

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_list("configs", ["w32_b64", "w64_b256"], f"Configurations among {sorted(CONFIGS)}.")
    flags.DEFINE_integer("num_masks", 4, "N.")
    flags.DEFINE_enum("objective", "simclr", ["simclr", "byol"], "The SSL objective of both sides.")
    flags.DEFINE_integer("image_size", IMAGE_SIZE, "Image side in pixels (the UNet's depth follows it).")
    flags.DEFINE_enum("stem", "cifar", ["cifar", "imagenet"], "ResNet stem: solo-learn's CIFAR one "
                      "(3x3, stride 1) or the standard 7x7/2 + max-pool (the paper at 96 px).")
    flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16"],
                      "float32, or bfloat16 compute with float32 weights (Keras' dtype policy; "
                      "the reference under torch.autocast).")
    flags.DEFINE_list("keras_backends", [], "Keras backends, one keras_adios worker each, timed in the "
                      "same rounds against the one reference (default: $KERAS_BACKEND).")
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
    flags.DEFINE_bool("gpu_backends", False, "Print the Keras backends whose framework sees a GPU here "
                      "(comma-separated; benchmarks/gpu_check.sh) and exit.")


def pass_counts(num_masks, classifier, objective="simclr"):
    """Encoder forward-equivalents per step: (reference, keras_adios).

    Forward 1, backward with weight gradients 2, backward with input gradients
    only 1. SimCLR: the reference runs `f(x1)` and `f(x2 * (1 - m_n))` for every
    mask in both steps; keras_adios runs `f(x1)` once per phase. BYOL adds the
    target network's forwards of the same views (train mode, no backward).
    """
    n = num_masks
    extra = 2 if classifier else 0  # the online classifier's passes of x1 and x2
    if objective == "byol":
        reference = (4 * n + extra) + 2 * 2 * n + 4 * n + n
        ours = 2 * (n + 1) + 2 * (n + 1) + 2 * (n + 1) + n
    else:
        reference = (2 * n + extra) + 2 * 2 * n + 2 * n + n
        ours = (n + 1) + 2 * (n + 1) + (n + 1) + n
    return reference, ours


#: Dense bfloat16 tensor-core peaks (TFLOP/s) of the cards the lent machines have, by name.
BF16_PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4}


def bf16_peak_tflops(device_name):
    """The card's dense bfloat16 peak (NVIDIA's figure for the SXM part), or None if unknown."""
    for name, peak in BF16_PEAK_TFLOPS.items():
        if name in (device_name or ""):
            return peak
    return None


def forward_flops(width, num_masks, filters, objective, image_size, stem):
    """FLOPs of one image's forward pass: `{"encoder": f + heads, "masker": UNet}`.

    Counted on the reference's modules (2 x multiply-adds of every convolution
    and linear layer; norms and activations left out). The encoder figure
    includes the projector (and BYOL's predictor).
    """
    import torch

    encoder, heads, _, masker = torch_models(width, num_masks, filters, objective, image_size, stem)
    count = [0]

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            count[0] += 2 * k * output.numel()
        elif isinstance(module, torch.nn.Linear):
            count[0] += 2 * module.in_features * module.out_features * output.shape[0]

    def flops(fn):
        count[0] = 0
        handles = [m.register_forward_hook(hook) for net in (encoder, masker, *heads.values())
                   for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        with torch.no_grad():
            fn(torch.zeros(2, 3, image_size, image_size))
        for h in handles:
            h.remove()
        return count[0] / 2

    def online(x):
        z = heads["projector"](encoder(x))
        return heads["predictor"](z) if "predictor" in heads else z

    return {"encoder": flops(online), "masker": flops(masker)}


def step_flops(per_image, batch, num_masks, objective, classifier=False, reference=False):
    """The FLOPs of one ADIOS step of keras_adios or (`reference=True`) of the authors' procedure.

    Encoder FLOPs times the side's pass counts, plus its UNet passes: keras_adios
    one forward and one backward (3), the reference a forward without gradients,
    then a forward and a backward (4).
    """
    ref_passes, our_passes = pass_counts(num_masks, classifier, objective)
    if reference:
        return batch * (per_image["encoder"] * ref_passes + per_image["masker"] * 4)
    return batch * (per_image["encoder"] * our_passes + per_image["masker"] * 3)


# ============================================================================
# The PyTorch reference
# ============================================================================


def torch_models(width, num_masks, filters, objective="simclr", image_size=IMAGE_SIZE, stem="cifar"):
    """The reference's modules: encoder, heads (`projector`, and for BYOL `predictor`), classifier, UNet."""
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
        """ResNet-18 with the CIFAR stem (3x3 conv, no max-pool) or the standard one, as solo-learn builds it."""

        def __init__(self, w):
            super().__init__()
            if stem == "cifar":  # solo-learn's: 3x3, stride 1, padding 2 (as keras_adios.encoders.ResNet18)
                self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 1, 2, bias=False), nn.BatchNorm2d(w), nn.ReLU())
            else:  # torchvision's: 7x7 stride 2, then a 3x3 stride-2 max-pool
                self.stem = nn.Sequential(nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                                          nn.MaxPool2d(3, 2, 1))
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

        def __init__(self, n, c, size=image_size):
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
    if objective == "byol":  # solo-learn's BYOL heads: Linear -> BN -> ReLU -> Linear
        heads = {
            "projector": nn.Sequential(nn.Linear(encoder.out_dim, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(),
                                       nn.Linear(HIDDEN, BYOL_PROJECTION)),
            "predictor": nn.Sequential(nn.Linear(BYOL_PROJECTION, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(),
                                       nn.Linear(HIDDEN, BYOL_PROJECTION)),
        }
    else:
        heads = {"projector": nn.Sequential(nn.Linear(encoder.out_dim, HIDDEN), nn.ReLU(),
                                            nn.Linear(HIDDEN, PROJECTION))}
    classifier = nn.Linear(encoder.out_dim, NUM_CLASSES)
    masker = UNet(num_masks, filters)
    return encoder, heads, classifier, masker


def torch_worker(width, batch, num_masks, filters, classifier_on, objective="simclr", image_size=IMAGE_SIZE,
                 stem="cifar", precision="float32"):
    import copy
    import contextlib

    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the reference at its fastest (Lightning leaves it off)
    encoder, heads, classifier, masker = torch_models(width, num_masks, filters, objective, image_size, stem)
    for module in (encoder, classifier, masker, *heads.values()):
        module.to(device)
    projector, predictor = heads["projector"], heads.get("predictor")
    rng = np.random.default_rng(0)
    shape = (batch, 3, image_size, image_size)
    x1 = torch.tensor(rng.normal(size=shape).astype("float32"), device=device)
    x2 = torch.tensor(rng.normal(size=shape).astype("float32"), device=device)
    y = torch.tensor(rng.integers(0, NUM_CLASSES, batch), device=device)
    online = [p for m in (encoder, classifier, *heads.values()) for p in m.parameters()]
    opt_i = torch.optim.SGD(online, lr=LEARNING_RATE, momentum=0.9)
    opt_m = torch.optim.SGD(masker.parameters(), lr=LEARNING_RATE, momentum=0.9)
    head = torch.nn.Linear(encoder.out_dim, NUM_CLASSES).to(device)
    opt_s = torch.optim.SGD(list(encoder.parameters()) + list(head.parameters()), lr=LEARNING_RATE, momentum=0.9)
    if objective == "byol":  # the momentum branch, a copy updated by EMA once per batch
        target_encoder, target_projector = copy.deepcopy(encoder), copy.deepcopy(projector)
        targets = list(target_encoder.parameters()) + list(target_projector.parameters())
        for p in targets:
            p.requires_grad_(False)

    def autocast():
        if precision == "mixed_bfloat16":
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def nt_xent(z1, z2, t=0.2):
        z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        b = z1.shape[0]
        logits = z @ z.t() / t
        logits.fill_diagonal_(float("-inf"))
        target = torch.cat([torch.arange(b, device=device) + b, torch.arange(b, device=device)])
        return F.cross_entropy(logits, target)

    def byol(p, z):
        return (2 - 2 * F.cosine_similarity(p.float(), z.float(), dim=-1)).mean()

    def mask_loss(m, n):
        """The SSL loss of mask n, the authors' way: every view recomputed inside the loop."""
        xm = x2 * (1 - m[:, n : n + 1])
        if objective == "byol":
            p1, p2 = predictor(projector(encoder(x1))), predictor(projector(encoder(xm)))
            with torch.no_grad():
                t1, t2 = target_projector(target_encoder(x1)), target_projector(target_encoder(xm))
            return byol(p1, t2) + byol(p2, t1)
        return nt_xent(projector(encoder(x1)), projector(encoder(xm)))

    def set_online_grad(flag):
        for p in online:
            p.requires_grad_(flag)

    def adios_step():
        # 1. encoder step: masks without gradients, f(x1) inside the loop.
        set_online_grad(True)
        opt_i.zero_grad()
        with autocast():
            with torch.no_grad():
                m = masker(x2)
            loss = 0.0
            for n in range(num_masks):
                loss = loss + mask_loss(m, n)
            if classifier_on:
                f1, f2 = encoder(x1).detach(), encoder(x2).detach()
                loss = loss + (F.cross_entropy(classifier(f1), y) + F.cross_entropy(classifier(f2), y)) / 2
        loss.backward()
        opt_i.step()
        if objective == "byol":
            with torch.no_grad():
                for t, o in zip(targets, list(encoder.parameters()) + list(projector.parameters())):
                    t.mul_(0.99).add_(o, alpha=0.01)
        # 2. masker step: encoder frozen, masks recomputed.
        set_online_grad(False)
        opt_m.zero_grad()
        with autocast():
            m = masker(x2)
            similarity = 0.0
            for n in range(num_masks):
                coverage = m[:, n].float().mean(dim=(1, 2))
                penalty = (1 / (torch.sin(torch.pi * coverage) + 1e-10)).mean()
                similarity = similarity + mask_loss(m, n) - penalty
        (-similarity).backward()
        opt_m.step()
        sync()

    def supervised_step():
        set_online_grad(True)
        opt_s.zero_grad()
        with autocast():
            loss = F.cross_entropy(head(encoder(x1)), y)
        loss.backward()
        opt_s.step()
        sync()

    return {"adios": adios_step, "supervised": supervised_step}


# ============================================================================
# keras_adios
# ============================================================================


def keras_worker(width, batch, num_masks, filters, classifier_on, lean=True, objective="simclr",
                 image_size=IMAGE_SIZE, stem="cifar", precision="float32"):
    import keras
    import numpy as np

    sys.path.insert(0, ROOT)
    import keras_adios

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(precision)
    shape = (image_size, image_size, 3)
    encoder = keras_adios.encoders.ResNet18(input_shape=shape, stem=stem, width=width)
    if objective == "byol":
        ssl = keras_adios.objectives.BYOL(projection_dim=BYOL_PROJECTION, hidden_dim=HIDDEN,
                                          predictor_hidden_dim=HIDDEN, base_momentum=0.99, final_momentum=0.99)
    else:
        ssl = keras_adios.objectives.SimCLR(temperature=0.2, hidden_dim=HIDDEN, projection_dim=PROJECTION)
    model = keras_adios.ADIOS(
        encoder,
        keras_adios.layers.MaskGenerator(num_masks=num_masks, filters=filters, norm="group"),
        objective=ssl,
        num_classes=NUM_CLASSES if classifier_on else None,
        seed=0,
        per_view_backward=lean,
    )
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
        masker_optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
    )
    rng = np.random.default_rng(0)
    # The batch is put on the backend's default device (the GPU where there is one) once, as the
    # reference's is.
    tensor = keras.ops.convert_to_tensor
    x1 = tensor(rng.normal(size=(batch,) + shape).astype("float32"))
    x2 = tensor(rng.normal(size=(batch,) + shape).astype("float32"))
    y = tensor(rng.integers(0, NUM_CLASSES, batch).astype("int32"))
    supervised = keras.Sequential([encoder, keras.layers.Dense(NUM_CLASSES)])
    supervised.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    # `train_on_batch` returns its logs as Python numbers, so each call waits for the device.
    def adios_step():
        if classifier_on:
            model.train_on_batch((x1, x2), y)
        else:
            model.train_on_batch((x1, x2))

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
        steps = torch_worker(width, batch, FLAGS.num_masks, FLAGS.masker_filters, FLAGS.classifier,
                             **_setting_kwargs())
    else:
        steps = keras_worker(width, batch, FLAGS.num_masks, FLAGS.masker_filters, FLAGS.classifier,
                             lean=FLAGS.worker != "keras_joint", **_setting_kwargs())
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


def _setting_kwargs():
    return {"objective": FLAGS.objective, "image_size": FLAGS.image_size, "stem": FLAGS.stem,
            "precision": FLAGS.precision}


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


def start_worker(name, config):
    """Starts worker `name`: "torch" (the reference), "keras_<backend>" or "keras_joint" (first backend)."""
    backend = name[len("keras_"):] if name.startswith("keras_") and name != "keras_joint" else _backends()[0]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    worker = name if name in ("torch", "keras_joint") else "keras"
    args = [sys.executable, os.path.abspath(__file__), f"--worker={worker}", f"--config={config}",
            f"--num_masks={FLAGS.num_masks}", f"--masker_filters={FLAGS.masker_filters}",
            f"--warmup={FLAGS.warmup}", f"--threads={FLAGS.threads}", f"--objective={FLAGS.objective}",
            f"--image_size={FLAGS.image_size}", f"--stem={FLAGS.stem}", f"--precision={FLAGS.precision}",
            "--classifier" if FLAGS.classifier else "--noclassifier"]
    process = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.strip() == "READY":
            return process
    raise RuntimeError(f"The {name} worker for {config} exited before it was ready (see its stderr).")


def _backends():
    return FLAGS.keras_backends or [os.environ.get("KERAS_BACKEND", "tensorflow")]


def ask(process, kind, steps):
    process.stdin.write(f"{kind} {steps}\n")
    process.stdin.flush()
    return json.loads(process.stdout.readline())


def measure(config, flops=None):
    """Times every worker of `config` in alternating rounds: one row per Keras backend."""
    backends = _backends()
    names = ((["torch"] if FLAGS.reference else []) + [f"keras_{b}" for b in backends]
             + (["keras_joint"] if FLAGS.joint else []))
    workers = {}
    try:
        for name in names:
            workers[name] = start_worker(name, config)
        times = {(fw, kind): [] for fw in names for kind in ("adios", "supervised")}
        cpu = {key: [] for key in times}
        memory = {key: {"peak_rss_mb": [], "device_peak_mb": []} for key in times}
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
    rows = []
    for i, backend in enumerate(backends):
        # This backend's worker is "keras" in its row; the other backends' workers are left out.
        rename = {f"keras_{backend}": "keras"}
        keep = {"torch", f"keras_{backend}"} | ({"keras_joint"} if i == 0 else set())
        pick = lambda d: {(rename.get(fw, fw), kind): v for (fw, kind), v in d.items() if fw in keep}  # noqa: E731
        rows.append(_summarize(config, backend, pick(times), pick(cpu), pick(memory), flops))
    return rows


def _summarize(config, backend, times, cpu, memory, flops):
    width, batch = CONFIGS[config]
    out = {
        "config": config, "width": width, "batch_size": batch, "num_masks": FLAGS.num_masks,
        "backend": backend, "objective": FLAGS.objective, "image_size": FLAGS.image_size, "stem": FLAGS.stem,
        "precision": FLAGS.precision,
        "step_seconds": {f"{fw}_{kind}": statistics.median(v) for (fw, kind), v in times.items()},
        "cpu_seconds": {f"{fw}_{kind}": statistics.median(v) for (fw, kind), v in cpu.items()},
        # The largest peak over the rounds, per worker and step (MB), and keras_adios / reference.
        "peak_memory_mb": {f"{fw}_{kind}_{key.split('_')[1]}": max(v) for (fw, kind), keys in memory.items()
                           for key, v in keys.items() if v},
    }

    def ratios(a, b, kind):  # per-round time ratios a / b
        return [x / y for x, y in zip(times[(a, kind)], times[(b, kind)])]

    if ("torch", "adios") in times:
        adios, supervised = ratios("torch", "keras", "adios"), ratios("torch", "keras", "supervised")
        reference_passes, our_passes = pass_counts(FLAGS.num_masks, FLAGS.classifier, FLAGS.objective)
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
    if flops:
        # Each side's own work per step (its pass counts) over its step time, against the card's peak.
        out["flops"] = dict(flops)
        for fw, key in (("keras", "keras_adios"), ("torch", "reference")):
            if (fw, "adios") in times:
                rate = flops[f"{key}_step"] / out["step_seconds"][f"{fw}_adios"] / 1e12
                out["flops"][f"{key}_tflops"] = rate
                if flops.get("bf16_peak_tflops"):
                    out["flops"][f"{key}_of_bf16_peak"] = rate / flops["bf16_peak_tflops"]
    if ("keras_joint", "adios") in times:
        # Lean / joint: time (median of per-round ratios; below 1: lean is faster) and peak memory.
        lean_over_joint = ratios("keras", "keras_joint", "adios")
        out["lean_over_joint_time_per_round"] = lean_over_joint
        out["lean_over_joint_time"] = statistics.median(lean_over_joint)
        for key in ("rss", "device"):
            lean, joint = (out["peak_memory_mb"].get(f"{fw}_adios_{key}") for fw in ("keras", "keras_joint"))
            out[f"lean_over_joint_{key}_memory"] = lean / joint if lean and joint else None
    return out


def _label(row, multi_backend=False):
    """The table's name of a row: the config, and whatever differs from the CPU defaults."""
    extra = ""
    if row.get("image_size", IMAGE_SIZE) != IMAGE_SIZE or row.get("stem", "cifar") != "cifar":
        extra += f", {row['image_size']} px, {row['stem']} stem"
    if row.get("objective", "simclr") != "simclr" or row.get("num_masks", 4) != 4:
        extra += f", {row['objective']} N = {row['num_masks']}"
    if row.get("precision", "float32") != "float32":
        extra += f", {row['precision']}"
    if multi_backend:
        extra += f", Keras on {row['backend']}"
    return f"{row['config']} (ResNet-18 width {row['width']}, batch {row['batch_size']}{extra})"


def markdown(rows, meta):
    lines = [
        "# keras_adios vs the authors' per-batch procedure (PyTorch re-creation), side by side",
        "",
        f"Written by `benchmarks/vs_reference.py` on {meta['date']} at commit `{meta['commit']}`; Keras "
        f"backend {', '.join(meta.get('keras_backends') or [meta['backend']])}, torch {meta['torch']}, {meta['rounds']} alternating rounds x "
        f"{meta['steps']} steps, N = {meta['num_masks']}, {meta.get('objective', 'simclr')}, classifier on both "
        f"views: {meta['classifier']}; device: {meta.get('device', 'cpu')}. "
        "Ratios are PyTorch reference time / keras_adios time (above 1: keras_adios is faster), median "
        "of per-round ratios. Ceiling = supervised-step ratio (the frameworks' per-op speed, same "
        "rounds) x encoder pass-count ratio "
        "({} / {} forward-equivalents).".format(
            *pass_counts(meta["num_masks"], meta["classifier"], meta.get("objective", "simclr"))),
        "",
        "| config | ADIOS step: torch ref / keras_adios (s) | measured ratio | supervised step: torch / keras (s) "
        "| supervised ratio | ceiling | measured / ceiling | per-round ADIOS ratios "
        "| ADIOS peak memory: torch ref / keras_adios (GB) | memory ratio keras_adios / ref |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    multi = len({r.get("backend") for r in rows}) > 1
    for r in rows:
        s = r["step_seconds"]
        if "measured_ratio" not in r:
            continue
        lines.append(
            f"| {_label(r, multi)} "
            f"| {s['torch_adios']:.2f} / {s['keras_adios']:.2f} | **{r['measured_ratio']:.2f}x** "
            f"| {s['torch_supervised']:.3f} / {s['keras_supervised']:.3f} | {r['supervised_ratio']:.2f}x "
            f"| {r['ceiling']:.2f}x | {r['measured_over_ceiling']:.2f} "
            f"| {', '.join(f'{v:.2f}' for v in r['adios_ratios_per_round'])} "
            f"| {_memory_cell(r)} |"
        )
    joint_rows = [r for r in rows if "lean_over_joint_time" in r]
    if joint_rows:
        lines += _section(
            "keras_adios' per-view backward (the default, `per_view_backward=True`: one masked view back-propagated at a time in both phases) "
            "against the joint one (`per_view_backward=False`: one backward through all N masked views, "
            "as the authors' code does), same rounds:",
            ["config", "ADIOS step: joint / lean (s)", "time lean / joint", "peak memory: joint / lean (GB)",
             "memory lean / joint"])
        for r in joint_rows:
            s, m = r["step_seconds"], r["peak_memory_mb"]
            memory_ratio = r.get("lean_over_joint_rss_memory")
            memory = "– | –"
            if memory_ratio:
                memory = (f"{m['keras_joint_adios_rss'] / 1024:.2f} / {m['keras_adios_rss'] / 1024:.2f} "
                          f"| **{memory_ratio:.2f}x**")
            lines.append(
                f"| {_label(r, multi)} "
                f"| {s['keras_joint_adios']:.2f} / {s['keras_adios']:.2f} | **{r['lean_over_joint_time']:.2f}x** "
                f"| {memory} |"
            )
    rate_rows = [r for r in rows if "flops" in r]
    if rate_rows:
        lines += _section(
            "Work rate: each side's own FLOPs per ADIOS step (2 x the multiply-adds of every convolution and "
            "linear layer in its encoder passes, counted above, and its UNet passes) over its step time; "
            "the fraction is of the card's dense bfloat16 peak (NVIDIA's figure; float32 rows too).",
            ["config", "keras_adios TFLOP/s", "of bf16 peak", "reference TFLOP/s", "of bf16 peak"])
        for r in rate_rows:
            f = r["flops"]
            cells = []
            for key in ("keras_adios", "reference"):
                rate, share = f.get(f"{key}_tflops"), f.get(f"{key}_of_bf16_peak")
                cells.append(f"{rate:.3g}" if rate is not None else "–")
                cells.append(f"{100 * share:.1f} %" if share is not None else "–")
            lines.append(f"| {_label(r, multi)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Peak memory: each worker's peak resident memory (VmHWM, reset before every request) while it "
        "ran its ADIOS steps, the largest over the rounds; on a GPU also the framework's peak of "
        "allocated device memory. The workers never run at the same time.",
        "",
        f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def _section(intro, columns):
    """The lines of a table with its introduction: a blank line, the text, a blank line, the header."""
    return ["", intro, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _memory_cell(row):
    m = row.get("peak_memory_mb") or {}
    cells = []
    for key, label in (("rss", "RSS"), ("device", "GPU")):
        ref, ours = m.get(f"torch_adios_{key}"), m.get(f"keras_adios_{key}")
        if ref and ours:
            cells.append(f"{label} {ref / 1024:.2f} / {ours / 1024:.2f} | **{ours / ref:.2f}x**")
    return " ; ".join(cells) if cells else "– | –"


def gpu_backends():
    """The Keras backends installed here whose framework sees a GPU, in the order jax, tensorflow, torch."""
    import importlib.util

    probes = {
        "jax": lambda: any(d.platform == "gpu" for d in __import__("jax").devices()),
        "tensorflow": lambda: bool(__import__("tensorflow").config.list_physical_devices("GPU")),
        "torch": lambda: __import__("torch").cuda.is_available(),
    }
    found = []
    for name, probe in probes.items():
        if importlib.util.find_spec(name) is None:
            continue
        try:
            if probe():
                found.append(name)
        except Exception:  # a framework that cannot start its GPU runtime does not count
            continue
    return found


def main(argv):
    del argv
    if FLAGS.gpu_backends:
        print(",".join(gpu_backends()))
        return
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
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    rows = []
    for config in configs:
        width, batch = CONFIGS[config]
        per_image = forward_flops(width, FLAGS.num_masks, FLAGS.masker_filters, FLAGS.objective,
                                  FLAGS.image_size, FLAGS.stem)
        step = lambda reference: step_flops(per_image, batch, FLAGS.num_masks, FLAGS.objective,  # noqa: E731
                                            FLAGS.classifier, reference)
        flops = {
            "encoder_forward_per_image": per_image["encoder"], "masker_forward_per_image": per_image["masker"],
            "keras_adios_step": step(False), "reference_step": step(True),
            "bf16_peak_tflops": bf16_peak_tflops(device),
        }
        rows += measure(config, flops)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit, "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "torch": torch.__version__, "rounds": FLAGS.rounds, "steps": FLAGS.steps,
        "num_masks": FLAGS.num_masks, "classifier": FLAGS.classifier, "objective": FLAGS.objective,
        "image_size": FLAGS.image_size, "stem": FLAGS.stem, "precision": FLAGS.precision,
        "keras_backends": _backends(), "device": device,
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
