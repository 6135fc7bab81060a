"""Guide 1: getting started (cells of guides/01_getting_started.ipynb)."""

CELLS = [
    ("md", r"""
# Getting started with ADIOS in Keras

**ADIOS** (adversarial masking for self-supervised learning, Shi et al., ICML 2022) trains an image
encoder and a *mask generator* against each other. The mask generator splits every image into `N`
soft masks that sum to one at every pixel; the encoder learns to give a masked view `x2 * (1 - m_n)`
the same representation as another view `x1` of the same image (here with the SimCLR loss), while
the mask generator tries to hide exactly what the encoder relies on.

In this guide you will:

1. load the built-in synthetic dataset and look at the two-view augmentation,
2. build and train `keras_adios.ADIOS` with `model.fit`, and watch the masks form,
3. measure the representation with a linear probe and a kNN classifier,
4. put the learned `model.encoder` into a new Keras classifier and fine-tune it.

It runs top to bottom on a laptop CPU in about three minutes (TensorFlow backend).
"""),
    ("code", r"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # "jax" and "torch" work too
# KERAS_ADIOS_GUIDE_SMOKE=1 shrinks everything (the test suite runs the guides this way).
SMOKE = os.environ.get("KERAS_ADIOS_GUIDE_SMOKE") == "1"

import keras
import matplotlib.pyplot as plt
import numpy as np

import keras_adios
from keras_adios import data, evaluation

keras.utils.set_random_seed(0)
NUM_TRAIN, NUM_TEST, EPOCHS, BATCH_SIZE = (128, 128, 1, 32) if SMOKE else (2000, 1000, 5, 128)
RUN_DIR = "runs/guide01"
print("Keras", keras.__version__, "backend:", keras.backend.backend())
"""),
    ("md", r"""
## The data

`shapes32` is a synthetic dataset that ships with the package (no download): 32x32 images of ten
kinds of objects made of parts, on textured backgrounds. It also comes with ground-truth foreground
and part masks, so we can check later whether the learned masks find objects.
`load_dataset` returns uint8 images and integer labels.
"""),
    ("code", r"""
train_images, train_labels = data.load_dataset("shapes32", "train", num_images=NUM_TRAIN)
test_images, test_labels = data.load_dataset("shapes32", "test", num_images=NUM_TEST)
print("train:", train_images.shape, train_images.dtype, " test:", test_images.shape)

fig, axes = plt.subplots(1, 10, figsize=(12, 1.7))
for c, ax in enumerate(axes):
    ax.imshow(train_images[np.flatnonzero(train_labels == c)[0]])
    ax.set_title(data.CLASS_NAMES[c], fontsize=8)
    ax.axis("off")
plt.show()
"""),
    ("md", r"""
## Two augmented views

Self-supervised learning compares two random views of the same image. `AugmentationConfig.preset`
gives the augmentation of a dataset (random resized crop, colour jitter, grayscale, blur, flip,
normalisation), and `make_pretrain_dataset` builds a seeded `tf.data` pipeline that yields
`((view1, view2), labels)` batches. The labels are only used by the optional online probe.
"""),
    ("code", r"""
config = data.AugmentationConfig.preset("shapes32")
pairs = data.make_pretrain_dataset(train_images, train_labels, config=config, batch_size=BATCH_SIZE)
(view1, view2), labels = next(iter(pairs))
print("views:", view1.shape, view1.dtype, " labels:", labels.shape)

fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
for i in range(8):
    axes[0, i].imshow(data.denormalize(view1[i], config))
    axes[1, i].imshow(data.denormalize(view2[i], config))
    axes[0, i].set_title(data.CLASS_NAMES[int(labels[i])], fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
axes[0, 0].text(-8, 16, "view 1", rotation=90, va="center")
axes[1, 0].text(-8, 16, "view 2", rotation=90, va="center")
plt.show()
"""),
    ("md", r"""
## The model

Three parts:

- an **encoder**: any `keras.Model` from images to feature vectors. `SmallResNet` is fast on a CPU;
  `keras_adios.encoders.ResNet18` is the paper's backbone;
- a **mask generator**: `MaskGenerator(num_masks=N)` is the authors' UNet with a softmax over the
  `N` mask channels;
- an **objective**: `SimCLR`, `BYOL` or `SimSiam`, which also owns the projection heads.

`ADIOS` runs the two-player step inside `fit`: one update of the encoder (minimising the SSL loss
summed over the `N` masked views), then one update of the mask generator (maximising it, minus a
sparsity penalty that keeps every mask away from empty and full). Each player has its own optimizer.
The paper trains for hundreds of epochs with LARS; for a few CPU epochs Adam works well.
`num_classes=10` adds an online linear probe on stop-gradient features (it never changes the encoder).
"""),
    ("code", r"""
encoder = keras_adios.encoders.SmallResNet(input_shape=(32, 32, 3), widths=(16, 32, 64))
masker = keras_adios.layers.MaskGenerator(num_masks=4, filters=16)
model = keras_adios.ADIOS(
    encoder,
    masker,
    objective=keras_adios.objectives.SimCLR(temperature=0.2),
    sparsity_weight=1.0,
    num_classes=10,
)
model.compile(
    encoder_optimizer=keras.optimizers.Adam(2e-3),
    masker_optimizer=keras.optimizers.Adam(1e-3),
    run_eagerly=SMOKE,  # the smoke test's 4 steps are cheaper without tracing a graph
)
print(f"encoder: {encoder.count_params():,} parameters, {encoder.output_shape[-1]}-d features")
"""),
    ("md", r"""
Before training, the masks of the untrained generator are noise. `render_mask_grid` draws, for
each image, the image itself and then, for every mask, the mask (white = occluded) and the masked
image the encoder sees.
"""),
    ("code", r"""
eval_batches = data.make_eval_dataset(test_images, test_labels, config=config, batch_size=256)
vis_images = next(iter(eval_batches))[0][:6]
denorm = lambda x: data.denormalize(x, config)


def show_grid(grid, title):
    plt.figure(figsize=(12, 12 * grid.shape[0] / grid.shape[1]))
    plt.imshow(grid)
    plt.title(title)
    plt.axis("off")
    plt.show()


masks = keras.ops.convert_to_numpy(model.masker(vis_images))
print("masks:", masks.shape, " sum over the 4 masks at every pixel:", float(masks.sum(-1).mean()))
show_grid(keras_adios.callbacks.render_mask_grid(vis_images, masks, denormalize=denorm),
          "untrained: image | (mask, masked image) x 4")
"""),
    ("md", r"""
## Train, and watch the masks form

`MaskVisualizer` saves such a grid after every epoch (and to TensorBoard if you give it a log
folder). Besides the losses, `fit` reports `coverage_min` and `coverage_max`: the smallest and
largest fraction of the image a mask covers, averaged over the batch.
"""),
    ("code", r"""
visualizer = keras_adios.callbacks.MaskVisualizer(vis_images, f"{RUN_DIR}/masks", denormalize=denorm)
history = model.fit(pairs, epochs=EPOCHS, callbacks=[visualizer], verbose=2)
"""),
    ("code", r"""
import glob

grids = sorted(glob.glob(f"{RUN_DIR}/masks/masks_epoch_*.png"))
print(len(grids), "grids saved, e.g.", grids[-1])
show_grid(plt.imread(grids[-1]), f"after epoch {len(grids)}: image | (mask, masked image) x 4")

h = history.history
epochs = np.arange(1, len(h["loss"]) + 1)
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
axes[0].plot(epochs, h["loss"], "o-", label="encoder: SSL loss")
axes[0].plot(epochs, h["masker_loss"], "o-", label="masker objective")
axes[0].legend(fontsize=8)
axes[1].plot(epochs, h["coverage_min"], "o-", label="smallest mask")
axes[1].plot(epochs, h["coverage_max"], "o-", label="largest mask")
axes[1].axhline(0.25, color="gray", ls=":", label="equal split (1/N)")
axes[1].set_ylim(0, 1)
axes[1].legend(fontsize=8)
axes[2].plot(epochs, h["probe_accuracy"], "o-")
for ax, title in zip(axes, ["losses", "mask coverage", "online probe accuracy"]):
    ax.set_title(title)
    ax.set_xlabel("epoch")
plt.tight_layout()
plt.show()
"""),
    ("md", r"""
## Evaluate the representation

The standard checks freeze the encoder and classify its features: a **linear probe** (a linear
classifier trained on the features) and a **weighted kNN** classifier (k=20, temperature 0.07).
A freshly initialised copy of the encoder gives the reference: random convolutional features are
already far above chance on simple images, so that is the number to beat, not chance.

Since `shapes32` has ground truth, we can also score the masks: `evaluate_masks` matches the hard
(argmax) masks with the object's foreground (IoU) and parts (adjusted Rand index).
"""),
    ("code", r"""
train_eval = data.make_eval_dataset(train_images, train_labels, config=config, batch_size=256)
probe_epochs = 5 if SMOKE else 50


def scores(enc):
    x_train, y_train = evaluation.extract_features(enc, train_eval)
    x_test, y_test = evaluation.extract_features(enc, eval_batches)
    probe = evaluation.linear_probe(x_train, y_train, x_test, y_test, epochs=probe_epochs)
    knn = evaluation.knn_accuracy(x_train, y_train, x_test, y_test, k=20, temperature=0.07)
    return probe["test_accuracy"], knn


probe_acc, knn_acc = scores(model.encoder)
untrained_probe, untrained_knn = scores(keras.models.clone_model(model.encoder))
print(f"linear probe accuracy: {probe_acc:.3f}")
print(f"kNN accuracy: {knn_acc:.3f}")
print(f"untrained encoder: linear probe accuracy: {untrained_probe:.3f}, kNN accuracy: {untrained_knn:.3f}")
print(f"chance: {1 / 10:.3f}")

truth = data.load_synthetic_shapes("test", num_images=NUM_TEST)
normalized = np.asarray(data.normalize(truth["images"].astype("float32") / 255.0, config))
mask_scores = evaluation.evaluate_masks(
    model.masker, normalized, foreground=truth["foreground"], parts=truth["parts"]
)
print("mask scores:", {k: round(float(v), 3) for k, v in mask_scores.items()})
"""),
    ("md", r"""
These numbers come from a few CPU minutes; the paper trains for 400-500 epochs. With this budget
expect accuracies that are only close to the untrained reference, and masks that already follow
object parts. Train longer (`EPOCHS`, more images, `python -m keras_adios.train --epochs=...`) for
real gains.

## Reuse the encoder in a new classifier

`model.encoder` is a plain Keras model, so it goes into any Keras model: here a
`keras.Sequential` with a flip augmentation and a new `Dense` head, trained on a small labelled
subset. First we train only the head (encoder frozen), then fine-tune everything with a lower
learning rate. A classifier with a freshly initialised encoder, trained the same way, shows what
the pretraining is worth here.
"""),
    ("code", r"""
NUM_LABELLED = 64 if SMOKE else 500
HEAD_EPOCHS, FINETUNE_EPOCHS = (1, 1) if SMOKE else (10, 10)
x_labelled = np.concatenate([x for x, _ in data.make_eval_dataset(
    train_images[:NUM_LABELLED], train_labels[:NUM_LABELLED], config=config, batch_size=256)])
y_labelled = train_labels[:NUM_LABELLED]
x_test = np.concatenate([x for x, _ in eval_batches])


def classifier_from(enc):
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.RandomFlip("horizontal"),
        enc,
        keras.layers.Dense(10),
    ])


def train_classifier(enc):
    clf = classifier_from(enc)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    enc.trainable = False  # 1. the head alone
    clf.compile(keras.optimizers.Adam(1e-2), loss, metrics=["accuracy"])
    clf.fit(x_labelled, y_labelled, epochs=HEAD_EPOCHS, batch_size=64, verbose=0)
    enc.trainable = True   # 2. everything, gently (compile again after changing `trainable`)
    clf.compile(keras.optimizers.Adam(3e-4), loss, metrics=["accuracy"])
    clf.fit(x_labelled, y_labelled, epochs=FINETUNE_EPOCHS, batch_size=64, verbose=0)
    return clf, clf.evaluate(x_test, test_labels, verbose=0)[1]


classifier, finetuned_acc = train_classifier(model.encoder)
_, scratch_acc = train_classifier(keras.models.clone_model(model.encoder))
classifier.summary()
print(f"fine-tuned accuracy: {finetuned_acc:.3f} ({NUM_LABELLED} labels)")
print(f"from-scratch accuracy: {scratch_acc:.3f} (same classifier, freshly initialised encoder)")
"""),
    ("md", r"""
## Next steps

- Save the pieces: `model.save("adios.keras")` (everything, optimizers included),
  `model.encoder.save("encoder.keras")`; both load with `keras.models.load_model` after
  `import keras_adios` (guide 3 shows saving, exporting and your own data).
- Guide 2 compares SimCLR, BYOL and SimSiam, ADIOS and ADIOS-s with random and block masks, and
  what `num_masks`, `sparsity_weight` and the masker learning rate do.
- The command line does all of this with one call: `python -m keras_adios.train --epochs=20`.
"""),
]
