"""Guide 2: objectives and masking (cells of guides/02_objectives_and_masking.ipynb)."""

CELLS = [
    ("md", r"""
# Choosing the objective and the masking

ADIOS is a wrapper around an SSL objective: the same two-player game works with **SimCLR**
(contrastive), **BYOL** (EMA target network) and **SimSiam** (stop-gradient, masks on both
views). It also has two variants: full **ADIOS** encodes all `N` masked views per step, **ADIOS-s**
samples one mask per image (about `N` times cheaper). And instead of learned masks you can plug in
the classic baselines: MAE-style random patches (`RandomPatchMasker`) or BEiT-style blocks
(`RandomBlockMasker`).

This guide trains small models side by side and looks at what changes: the cost per step, the
kNN accuracy, and the masks themselves. Then three small sweeps show what `num_masks`,
`sparsity_weight` and the masker learning rate do to the masks.

Every run here is a few dozen steps on a CPU (about 6 minutes for the whole guide), far too short
to rank methods: differences of a few points in kNN accuracy are noise at this budget. The point is
to see the mechanics. For quality comparisons, train for much longer (the repository's quality
benchmark does this).
"""),
    ("code", r"""
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
SMOKE = os.environ.get("KERAS_ADIOS_GUIDE_SMOKE") == "1"

import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_adios
from keras_adios import data, evaluation, layers, objectives

NUM_TRAIN, EPOCHS, BATCH_SIZE = (32, 1, 16) if SMOKE else (768, 2, 64)
train_images, train_labels = data.load_dataset("shapes32", "train", num_images=NUM_TRAIN)
test_images, test_labels = data.load_dataset("shapes32", "test", num_images=256 if SMOKE else 1000)
config = data.AugmentationConfig.preset("shapes32")
pairs = data.make_pretrain_dataset(train_images, train_labels, config=config, batch_size=BATCH_SIZE)
train_eval = data.make_eval_dataset(train_images, train_labels, config=config, batch_size=256)
test_eval = data.make_eval_dataset(test_images, test_labels, config=config, batch_size=256)
fixed_batch = next(iter(test_eval))[0][:32]  # for coverage curves and pictures
print("backend:", keras.backend.backend(), f"| {NUM_TRAIN} images, {EPOCHS} epochs, batch {BATCH_SIZE}")
"""),
    ("md", r"""
## One helper for every run

`pretrain` builds an encoder, a masker and an objective, trains with `fit`, and returns the kNN
accuracy on frozen features, the time per step, and the coverage of every mask on a fixed batch,
recorded every few steps by a small callback.
"""),
    ("code", r"""
OBJECTIVES = {
    "simclr": lambda: objectives.SimCLR(temperature=0.2, hidden_dim=256, projection_dim=64),
    "byol": lambda: objectives.BYOL(hidden_dim=256, predictor_hidden_dim=256, projection_dim=64),
    "simsiam": lambda: objectives.SimSiam(hidden_dim=256, predictor_hidden_dim=64, projection_dim=256),
}


class CoverageTracker(keras.callbacks.Callback):
    # Mean coverage of every mask on `images`, every `every` steps.

    def __init__(self, images, every=2):
        super().__init__()
        self.images, self.every = images, every
        self.step, self.steps, self.coverage = 0, [], []

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            masks = self.model.masker(self.images)
            coverage = keras_adios.losses.mask_coverage(masks)  # (B, N)
            self.coverage.append(keras.ops.convert_to_numpy(coverage).mean(0))
            self.steps.append(self.step)


def pretrain(masker="adios", objective="simclr", num_masks=4, sparsity_weight=1.0, mask_lr=1e-3,
             single_mask=False):
    keras.utils.set_random_seed(0)
    encoder = keras_adios.encoders.SmallResNet(input_shape=(32, 32, 3), widths=(16, 32, 64))
    if masker == "adios":
        masker = layers.MaskGenerator(num_masks=num_masks, filters=16)
    elif masker == "random":
        masker = layers.RandomPatchMasker(mask_ratio=0.75, seed=0)
    elif masker == "block":
        masker = layers.RandomBlockMasker(mask_ratio=0.3, seed=0)
    model = keras_adios.ADIOS(encoder, masker, objective=OBJECTIVES[objective](),
                              sparsity_weight=sparsity_weight, single_mask=single_mask, seed=0)
    # (The smoke test runs eagerly: for 2 steps, tracing the graph would cost more than it saves.)
    model.compile(encoder_optimizer=keras.optimizers.Adam(2e-3),
                  masker_optimizer=keras.optimizers.Adam(mask_lr), run_eagerly=SMOKE)
    tracker = CoverageTracker(fixed_batch)
    # MomentumSchedule gives BYOL's target momentum its length (a no-op for the others).
    callbacks = [keras_adios.callbacks.MomentumSchedule()]
    callbacks += [tracker] if isinstance(masker, layers.MaskGenerator) else []
    start = time.time()
    if not SMOKE:
        model.fit(pairs.take(1), epochs=1, verbose=0)  # compile the step once, untimed
    compiled = time.time()
    model.fit(pairs, epochs=EPOCHS, callbacks=callbacks, verbose=0)
    step_time = (time.time() - compiled) / (EPOCHS * len(pairs))
    x_train, y_train = evaluation.extract_features(model.encoder, train_eval)
    x_test, y_test = evaluation.extract_features(model.encoder, test_eval)
    knn = evaluation.knn_accuracy(x_train, y_train, x_test, y_test, k=20, temperature=0.07)
    return dict(model=model, knn=float(knn), step_time=step_time, compile_time=compiled - start,
                steps=np.array(tracker.steps), coverage=np.array(tracker.coverage))


def report(results, title):
    print(title)
    for name, r in results.items():
        print(f"  {name:24s} kNN accuracy: {r['knn']:.3f}   seconds per step: {r['step_time']:.3f}")


def plot_coverage(results, title=lambda name, r: name):
    # One panel per run: the coverage of every mask on the fixed batch over the steps.
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 2.8), sharey=True)
    for ax, (name, r) in zip(axes, results.items()):
        num_masks = r["coverage"].shape[1]
        for n in range(num_masks):
            ax.plot(r["steps"], r["coverage"][:, n], label=f"mask {n}")
        ax.axhline(1 / num_masks, color="gray", ls=":", lw=1)
        ax.set_title(title(name, r), fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("coverage on a fixed batch")
    axes[0].legend(fontsize=7)
    plt.tight_layout()
    plt.show()
"""),
    ("md", r"""
## SimCLR, BYOL or SimSiam

All three with full ADIOS and `N = 4` masks. SimSiam puts masks on both views, so it runs the mask
generator twice and encodes twice as many masked views: expect it to be the slowest. BYOL also runs
an EMA copy of the encoder (no gradients), which sits in between.
"""),
    ("code", r"""
by_objective = {name: pretrain(objective=name) for name in OBJECTIVES}
report(by_objective, "ADIOS, N=4, by objective:")
"""),
    ("md", r"""
## Learned masks or random ones

Now SimCLR with five kinds of masking:

- `adios`: all `N` learned masks per step (from the run above);
- `adios_s`: ADIOS-s, one sampled learned mask per image and step;
- `random`: MAE-style, 75 % of a patch grid hidden at random (`RandomPatchMasker`);
- `block`: BEiT-style rectangular blocks up to 30 % of the image (`RandomBlockMasker`);
- `none`: plain SimCLR (`masker=None`).

The random maskers have no weights, so the masker optimizer is simply unused.
"""),
    ("code", r"""
by_masking = {"adios": by_objective["simclr"]}
by_masking["adios_s"] = pretrain(single_mask=True)
by_masking["random"] = pretrain(masker="random")
by_masking["block"] = pretrain(masker="block")
by_masking["none"] = pretrain(masker=None)
report(by_masking, "SimCLR, by masking:")

fig, ax = plt.subplots(figsize=(7, 2.8))
names = list(by_masking)
ax.bar(names, [by_masking[n]["step_time"] / by_masking["none"]["step_time"] for n in names])
ax.set_ylabel("step time / plain SimCLR")
ax.set_title("cost of each masking scheme (same encoder, same batch)")
plt.show()
"""),
    ("md", r"""
What the encoder sees in each scheme, on the same four test images. For ADIOS the picture shows the
**hard** assignment: every pixel coloured by the mask that claims it most (the masks always
partition the image). The random maskers draw a new mask every call.
"""),
    ("code", r"""
COLOURS = np.array([[0.9, 0.2, 0.2], [0.2, 0.6, 0.9], [0.3, 0.8, 0.3], [0.95, 0.8, 0.2],
                    [0.7, 0.3, 0.8], [0.3, 0.9, 0.9], [0.6, 0.4, 0.2], [0.9, 0.5, 0.7]])
images = fixed_batch[:4]
shown = data.denormalize(images, config)


def assignment(masks):  # (B, H, W, N) soft masks -> (B, H, W, 3) colours of the argmax
    return COLOURS[np.argmax(masks, axis=-1) % len(COLOURS)]


fig, axes = plt.subplots(4, 5, figsize=(10, 8))
for i in range(4):
    axes[i, 0].imshow(shown[i])
    masks = keras.ops.convert_to_numpy(by_masking["adios"]["model"].masker(images))
    axes[i, 1].imshow(0.5 * shown[i] + 0.5 * assignment(masks)[i])
    for j, name in enumerate(["random", "block"]):
        m = keras.ops.convert_to_numpy(by_masking[name]["model"].masker(images))[i, ..., 0]
        axes[i, 2 + j].imshow(shown[i] * (1 - m[..., None]))
    axes[i, 4].imshow(shown[i])
for ax, title in zip(axes[0], ["image", "ADIOS masks (argmax)", "random patches", "blocks", "no mask"]):
    ax.set_title(title, fontsize=9)
for ax in axes.ravel():
    ax.axis("off")
plt.tight_layout()
plt.show()
"""),
    ("md", r"""
## How many masks: `num_masks`

`N` is the number of ways the generator may split an image. Full ADIOS encodes all `N` masked
views, so its step time grows linearly with `N` (ADIOS-s does not; timings on a busy machine are
noisy, `benchmarks/throughput.py` measures them properly). With more masks each one covers less of
the image: at an even split each has `1/N` of the pixels.
"""),
    ("code", r"""
by_num_masks = {f"N={n}": (by_objective["simclr"] if n == 4 else pretrain(num_masks=n)) for n in (2, 4, 6)}
report(by_num_masks, "SimCLR-ADIOS, by number of masks:")

plot_coverage(by_num_masks, lambda name, r: f"{name}: {r['step_time']:.2f} s/step")
"""),
    ("md", r"""
## The sparsity penalty: `sparsity_weight`

The masker maximises the SSL loss *minus* `sparsity_weight * sum_n mean_b 1 / sin(pi * coverage)`.
The penalty is 1 at 50 % coverage and grows without bound near 0 % and 100 %, so it stops the
generator from the trivial win of hiding the whole image with one mask. `N` masks that sum to one
cannot all cover half of the image, so in practice the penalty keeps them near an even split. The
curves show the coverage of every mask over training: with `sparsity_weight=0` the masks drift
apart (one grows, one shrinks: the start of a collapse), with 1 or 4 they stay near `1/N`. With
Adam, which normalises the gradient's scale, 1 and 4 behave almost alike once the penalty dominates
the masker's gradient; with SGD/LARS the weight also scales the step.
"""),
    ("code", r"""
by_sparsity = {f"sparsity_weight={w}": (by_objective["simclr"] if w == 1.0 else pretrain(sparsity_weight=w))
               for w in (0.0, 1.0, 4.0)}
report(by_sparsity, "SimCLR-ADIOS, by sparsity weight:")

plot_coverage(by_sparsity)
"""),
    ("md", r"""
## The masker's learning rate

The two players learn at their own rates. A masker much faster than the encoder finds occlusions
the encoder cannot follow, and its masks swing back and forth (the right panel); a slow one changes
its masks only gradually (the left panel drifts for the whole run). The authors tuned `mask_lr` per dataset (0.01 to 0.5 with LARS,
see `examples/recipes.py`).
"""),
    ("code", r"""
by_mask_lr = {f"mask_lr={lr:g}": (by_objective["simclr"] if lr == 1e-3 else pretrain(mask_lr=lr))
              for lr in (1e-4, 1e-3, 1e-2)}
report(by_mask_lr, "SimCLR-ADIOS, by masker learning rate (Adam):")

spread = lambda r: r["coverage"][-1].max() - r["coverage"][-1].min()
plot_coverage(by_mask_lr, lambda name, r: f"{name}: final spread {spread(r):.2f}")
"""),
    ("md", r"""
## Summary

| knob | what it changes | where to set it |
|---|---|---|
| objective | loss, heads, cost (SimSiam masks both views) | `objective=SimCLR(...)/BYOL(...)/SimSiam(...)` |
| ADIOS vs ADIOS-s | all `N` masked views per step, or one sampled per image | `single_mask=True` |
| masker | learned (`MaskGenerator`), random patches, blocks, none | second argument of `ADIOS` |
| `num_masks` | how finely images are split; full-ADIOS cost grows with it | `MaskGenerator(num_masks=N)` |
| `sparsity_weight` | keeps masks away from empty/full | `ADIOS(sparsity_weight=...)` |
| masker learning rate | how fast the adversary adapts | `compile(masker_optimizer=...)` |

The same choices are flags of the command line: `python -m keras_adios.train --objective=byol
--masking=adios_s --num_masks=6 --sparsity_weight=0.5 --mask_learning_rate=0.01`.
"""),
]
