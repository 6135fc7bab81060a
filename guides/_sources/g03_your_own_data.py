"""Guide 3: your own data (cells of guides/03_your_own_data.ipynb)."""

CELLS = [
    ("md", r"""
# Your own data: folders, TFDS, augmentation, saving and exporting

This guide takes ADIOS from the built-in dataset to yours:

1. read a **folder of images** (one sub-folder per class) or a **TensorFlow Datasets** dataset,
2. set up the **augmentation** and look at the two views it makes,
3. train, then **save** the encoder (`.keras`) and **export** it as a SavedModel for serving,
4. use the trained **mask generator** as a data augmentation, and to see what the model finds
   salient.

Everything runs offline on a CPU in a couple of minutes: the guide writes its own small image
folder first.
"""),
    ("code", r"""
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
SMOKE = os.environ.get("KERAS_ADIOS_GUIDE_SMOKE") == "1"

import keras
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

import keras_adios
from keras_adios import data

keras.utils.set_random_seed(0)
PER_CLASS, EPOCHS = (16, 1) if SMOKE else (150, 4)
RUN_DIR = "runs/guide03"
os.makedirs(RUN_DIR, exist_ok=True)
print("backend:", keras.backend.backend())
"""),
    ("md", r"""
## A folder of images

The layout is the usual one: `ROOT/<split>/<class_name>/<image files>` (jpg, png, bmp, gif; nested
folders inside a class count for that class). Here we write one from 64-px synthetic images, three
classes, in a temporary folder. With your data, point `ROOT` at your folder instead.
"""),
    ("code", r"""
ROOT = tempfile.mkdtemp(prefix="my_images_")
CLASSES = {2: "cross", 3: "house", 5: "arrow"}  # three of the ten synthetic classes
for split, count in (("train", PER_CLASS), ("val", max(8, PER_CLASS // 4))):
    source_split = "train" if split == "train" else "validation"
    shapes = data.load_synthetic_shapes(source_split, num_images=count * 12, image_size=64, seed=1)
    for label, name in CLASSES.items():
        folder = os.path.join(ROOT, split, name)
        os.makedirs(folder, exist_ok=True)
        for i, image in enumerate(shapes["images"][shapes["labels"] == label][:count]):
            Image.fromarray(image).save(os.path.join(folder, f"{i:04d}.png"))
for split in ("train", "val"):
    print(split, {name: len(os.listdir(os.path.join(ROOT, split, name))) for name in CLASSES.values()})
"""),
    ("md", r"""
`load_image_folder` returns a `tf.data.Dataset` of `(uint8 image, int32 label)` with the class
names (sorted folder names) attached. Images may have any size: the augmentation crops and resizes
them. `load_dataset("folder:ROOT", split)` is the same through the one-name entry point that the
command line uses (`--dataset=folder:ROOT`).
"""),
    ("code", r"""
train_folder = data.load_image_folder(ROOT, split="train")
print("classes:", train_folder.class_names, "| images:", len(train_folder.file_paths))
val_folder = data.load_dataset(f"folder:{ROOT}", split="val")

fig, axes = plt.subplots(1, 8, figsize=(12, 1.8))
shuffled = train_folder.shuffle(len(train_folder.file_paths), seed=0)  # the folder is in class order
for ax, (image, label) in zip(axes, shuffled.take(8)):
    ax.imshow(image.numpy())
    ax.set_title(train_folder.class_names[int(label)], fontsize=9)
    ax.axis("off")
plt.show()
"""),
    ("md", r"""
### TensorFlow Datasets

`load_tfds` reads CIFAR-10/100, STL10, Imagenette (and ImageNet-100 from a folder) without surprises
offline: unless you pass `download=True` it never touches the network, and a missing dataset is one
clear `DatasetNotFoundError` that says where it looked and how to provide the data (e.g. the
original archive in `manual_dir`). On a machine with the data prepared:

```python
images, labels = keras_adios.data.load_tfds("cifar10", "train", as_numpy=True)
stl10 = keras_adios.data.load_tfds("stl10", "train+unlabelled")  # tf.data, label -1 = unlabelled
```

Here (offline, empty data folder) it fails at once, with the explanation:
"""),
    ("code", r"""
try:
    data.load_tfds("cifar10", "train", data_dir=tempfile.mkdtemp())
except data.DatasetNotFoundError as e:
    print("DatasetNotFoundError:", str(e).splitlines()[0][:300])
"""),
    ("md", r"""
## The augmentation

`AugmentationConfig` holds every setting of the SimCLR/ADIOS two-view augmentation: random resized
crop (`min_scale`), colour jitter strengths and probability, grayscale, blur, solarisation, flip,
and the normalisation statistics. Presets exist for the paper's datasets
(`AugmentationConfig.preset("stl10")`, ...); for your own data start from the ImageNet statistics
and pick an `image_size`. Any field can be changed by keyword.
"""),
    ("code", r"""
strong = data.AugmentationConfig.preset("imagenet100s", image_size=64)  # the paper's defaults
gentle = data.AugmentationConfig.preset(
    "imagenet100s", image_size=64, min_scale=0.3, brightness=0.4, contrast=0.4, saturation=0.2,
    hue=0.1, blur_prob=0.0,
)
print({k: v for k, v in gentle.get_config().items() if k in ("image_size", "min_scale", "brightness", "hue", "blur_prob")})

fig, axes = plt.subplots(3, 7, figsize=(12, 5.4))
images = [image for image, _ in shuffled.take(3)]
for row, image in enumerate(images):
    axes[row, 0].imshow(image.numpy())
    for j in range(3):
        v1, v2 = data.augment_pair(image, (row, j), strong)
        axes[row, 1 + j].imshow(data.denormalize(v1, strong))
        g1, _ = data.augment_pair(image, (row, j), gentle)
        axes[row, 4 + j].imshow(data.denormalize(g1, gentle))
axes[0, 0].set_title("original", fontsize=9)
axes[0, 2].set_title("views: paper defaults", fontsize=9)
axes[0, 5].set_title("views: gentler config", fontsize=9)
for ax in axes.ravel():
    ax.axis("off")
plt.tight_layout()
plt.show()
"""),
    ("md", r"""
`make_pretrain_dataset` takes the folder dataset directly (arrays work too) and returns seeded,
reproducible `((view1, view2), labels)` batches. Then training is the same as in guide 1.
"""),
    ("code", r"""
config = gentle
pairs = data.make_pretrain_dataset(train_folder, config=config, batch_size=32 if SMOKE else 64, seed=0)
print("batches per epoch:", len(pairs))

encoder = keras_adios.encoders.SmallResNet(input_shape=(64, 64, 3), widths=(16, 32, 64))
masker = keras_adios.layers.MaskGenerator(num_masks=3, filters=16)
model = keras_adios.ADIOS(encoder, masker, objective=keras_adios.objectives.SimCLR(temperature=0.2),
                          num_classes=len(CLASSES))
model.compile(encoder_optimizer=keras.optimizers.Adam(2e-3), masker_optimizer=keras.optimizers.Adam(1e-3),
              run_eagerly=SMOKE)  # the smoke test's few steps are cheaper without tracing a graph
history = model.fit(pairs, epochs=EPOCHS, verbose=2)
"""),
    ("md", r"""
## Save, reload and export

- `model.save("adios.keras")`: the whole ADIOS model (encoder, masker, heads, optimizers), to resume
  training or inspect it.
- `model.encoder.save("encoder.keras")`: just the encoder, a plain functional Keras model for
  downstream models. Loading needs `import keras_adios` only (every layer is registered), no
  `custom_objects`.
- `model.encoder.export("encoder_savedmodel")` (TensorFlow backend): a TF SavedModel with a
  `serve` endpoint, for TF Serving, TFLite conversion, or loading without Keras.
"""),
    ("code", r"""
val_images = np.concatenate([x for x, _ in data.make_eval_dataset(val_folder, config=config, batch_size=64)])
spread = np.linspace(0, len(val_images) - 1, 8).astype(int)  # images of every class (folders are in class order)
model.save(f"{RUN_DIR}/adios.keras")
model.encoder.save(f"{RUN_DIR}/encoder.keras")

reloaded = keras.models.load_model(f"{RUN_DIR}/encoder.keras")
features = keras.ops.convert_to_numpy(model.encoder(val_images[:16], training=False))
features_reloaded = keras.ops.convert_to_numpy(reloaded(val_images[:16], training=False))
print("encoder.keras reloaded, max feature difference:", float(np.abs(features - features_reloaded).max()))

whole = keras.models.load_model(f"{RUN_DIR}/adios.keras")
print("adios.keras reloaded:", type(whole).__name__, "with", whole.masker.num_masks, "masks")
"""),
    ("code", r"""
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    model.encoder.export(f"{RUN_DIR}/encoder_savedmodel", verbose=False)
    served = tf.saved_model.load(f"{RUN_DIR}/encoder_savedmodel")
    served_features = served.serve(tf.constant(val_images[:16])).numpy()
    print("SavedModel 'serve' output:", served_features.shape,
          "max difference to Keras:", float(np.abs(served_features - features).max()))
else:
    print("SavedModel export (model.export) needs the TensorFlow backend; .keras files work everywhere.")
"""),
    ("md", r"""
## The mask generator as an augmentation

A trained mask generator proposes occlusions that are hard for the encoder: whole parts of objects
rather than random patches. You can reuse it in a supervised model as a data augmentation. The
layer below hides one randomly chosen mask per image during training and does nothing at inference.
It is written with `keras.ops` and `keras.random`, so it runs on every backend. (Save the masker
with `keras.Model(inputs, masker(inputs)).save("masker.keras")`, as the command line does.)
"""),
    ("code", r"""
class LearnedOcclusion(keras.layers.Layer):
    # Occludes each training image with one of the masker's masks, chosen at random.

    def __init__(self, masker, rate=0.5, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.masker, self.rate = masker, rate
        self.masker.trainable = False
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        masks = self.masker(images, training=False)                        # (B, H, W, N)
        batch, num_masks = keras.ops.shape(masks)[0], keras.ops.shape(masks)[-1]
        pick = keras.random.randint((batch,), 0, num_masks, seed=self.seed_generator)
        mask = keras.ops.sum(masks * keras.ops.one_hot(pick, num_masks)[:, None, None, :], -1, keepdims=True)
        apply = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator) < self.rate
        return keras.ops.where(apply, images * (1.0 - mask), images)


occlude = LearnedOcclusion(model.masker, rate=1.0)
occluded = keras.ops.convert_to_numpy(occlude(val_images[spread], training=True))
fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
for i in range(8):
    axes[0, i].imshow(data.denormalize(val_images[spread[i]], config))
    axes[1, i].imshow(data.denormalize(occluded[i], config))
    axes[0, i].axis("off")
    axes[1, i].axis("off")
axes[0, 0].set_title("input", fontsize=9, loc="left")
axes[1, 0].set_title("LearnedOcclusion (training=True)", fontsize=9, loc="left")
plt.show()
"""),
    ("code", r"""
# In a classifier: the occlusion is active in fit() and a no-op in predict()/evaluate().
train_x = np.concatenate([x for x, _ in data.make_eval_dataset(train_folder, config=config, batch_size=64)])
train_y = np.concatenate([y for _, y in data.make_eval_dataset(train_folder, config=config, batch_size=64)])
val_y = np.concatenate([y for _, y in data.make_eval_dataset(val_folder, config=config, batch_size=64)])
classifier = keras.Sequential([
    keras.Input((64, 64, 3)),
    LearnedOcclusion(model.masker, rate=0.5),
    keras.models.clone_model(model.encoder),
    keras.layers.Dense(len(CLASSES)),
])
classifier.layers[1].set_weights(model.encoder.get_weights())
classifier.compile(keras.optimizers.Adam(1e-3),
                   keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
classifier.fit(train_x, train_y, epochs=1 if SMOKE else 5, batch_size=32, verbose=0)
print(f"classifier with learned occlusion, val accuracy: {classifier.evaluate(val_images, val_y, verbose=0)[1]:.3f}")
"""),
    ("md", r"""
## What the model finds salient

Each mask is one "part" the generator learned to hide; since the `N` masks sum to one, the hard
assignment (argmax) splits every image into regions. Overlaying it on the image, and listing how
much of the image each mask takes, shows which regions the adversary groups together: after enough
training, objects and their parts separate from the background.
"""),
    ("code", r"""
COLOURS = np.array([[0.9, 0.2, 0.2], [0.2, 0.6, 0.9], [0.3, 0.8, 0.3], [0.95, 0.8, 0.2]])
shown_images = val_images[spread[1:7]]
soft = keras.ops.convert_to_numpy(model.masker(shown_images))
hard = np.argmax(soft, -1)
fig, axes = plt.subplots(2, 6, figsize=(12, 4.4))
for i in range(6):
    shown = data.denormalize(shown_images[i], config)
    axes[0, i].imshow(shown)
    axes[1, i].imshow(0.45 * shown + 0.55 * COLOURS[hard[i]])
    share = ", ".join(f"{(hard[i] == n).mean():.0%}" for n in range(soft.shape[-1]))
    axes[1, i].set_title(share, fontsize=8)
    axes[0, i].axis("off")
    axes[1, i].axis("off")
axes[0, 0].set_title("image", fontsize=9, loc="left")
plt.suptitle("hard mask assignment (colour = mask), share of the image per mask", fontsize=10)
plt.show()
"""),
    ("md", r"""
## From here

- The command line does the same on a folder: `python -m keras_adios.train --dataset=folder:ROOT
  --eval_split=val --epochs=50` (add `--load_size=128 --crop_size=96` for large images).
- `examples/linear_eval.py --run_dir=...` evaluates a run with the paper's linear protocol.
- Guide 4 trains on several devices.
"""),
]
