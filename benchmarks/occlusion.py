r"""What do the masks take away? Probe accuracy of a frozen encoder on occluded test images.

ADIOS trains the encoder to match an image with a copy whose parts the adversary
has hidden. That helps when what stays visible still identifies the object (a
dog's head without its body), and hurts when the adversary can hide what makes the
class. This script measures which of the two holds on the built-in shapes: a
linear probe is fitted once on an encoder's features of clean training images
(the protocol of `keras_adios.evaluation.background_robustness`), then applied,
unchanged, to test images occluded as in training (`x * (1 - m)` on normalised
images, so hidden pixels take the dataset's mean colour):

* `original`: no occlusion;
* `largest part hidden` / `all but the largest part hidden`: the ground-truth
  parts (every shape has 2-3 flat-coloured parts);
* `learned, mask n`: each of the masker's N masks (its soft values, as in
  training), and `learned, most of the object`: per image, the mask that
  hides the largest share of the object (the adversary's best single move);
* `random blocks` / `random patches`: the baselines' occlusions
  (`RandomBlockMasker`, 30 %; `RandomPatchMasker`, 75 %).

For each variant it reports the accuracy, the share of the object hidden and the
share of the image hidden. A variant that hides a quarter of the image and removes
most of the accuracy hides the class.

A second probe asks what else the features carry: the hue of the object's largest
part (6 bins of 60 degrees; part colours are random and class-independent), fitted
and tested on clean images the same way. An encoder that matches occluded views
by colour rather than by shape predicts the hue better and the class worse.

Usage (any run folder of `python -m keras_adios.train` on shapes: `encoder.keras`
and, for the learned masks, `masker.keras`; the masker may come from another run):

```shell
python benchmarks/occlusion.py --encoder_run=runs/adios_none --masker_run=runs/adios \
    --output=benchmarks/results/occlusion_shapes32
python benchmarks/occlusion.py --quick --output=/tmp/occlusion   # smoke run (the test)
```
"""

import json
import os
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


def define_flags():
    flags.DEFINE_string("encoder_run", None, "Run folder with encoder.keras and flags.json.")
    flags.DEFINE_string("masker_run", None, "Run folder with masker.keras (None: no learned-mask rows).")
    flags.DEFINE_integer("num_train_images", 5000, "Clean training images the probe is fitted on.")
    flags.DEFINE_integer("num_eval_images", 1000, "Test images per variant.")
    flags.DEFINE_integer("probe_epochs", 50, "Linear-probe epochs.")
    flags.DEFINE_integer("seed", 0, "Seed of the data, the probe and the random maskers.")
    flags.DEFINE_string("output", os.path.join(ROOT, "benchmarks", "results", "occlusion"),
                        "Output prefix: writes OUTPUT.md and OUTPUT.json.")
    flags.DEFINE_bool("quick", False, "Smoke run: untrained SmallResNet and MaskGenerator, 64 images, 2 epochs.")


def largest_part(parts):
    """Per image, a bool mask `(B, H, W)` of its largest part (ties: the lowest id).

    Args:
        parts: int `(B, H, W)`, 0 for the background and 1..P for the parts.
    """
    parts = np.asarray(parts)
    num_ids = int(parts.max()) + 1
    counts = np.stack([(parts == i).sum(axis=(1, 2)) for i in range(num_ids)], axis=1)
    counts[:, 0] = -1  # never the background
    biggest = counts.argmax(axis=1)
    return parts == biggest[:, None, None]


def largest_part_hue(images, parts, bins=6):
    """Per image, the hue bin (0..bins-1) of the mean colour of its largest part.

    Args:
        images: uint8 `(B, H, W, 3)` RGB images (before normalisation).
        parts: int `(B, H, W)` part ids (0 = background).
        bins: number of equal hue bins on the colour circle.
    """
    big = largest_part(parts)[..., None]
    rgb = (np.asarray(images, np.float64) * big).sum(axis=(1, 2)) / np.maximum(big.sum(axis=(1, 2)), 1) / 255.0
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    # The hue angle in [0, 1) turns; its 60-degree bins are exactly HSV's (the
    # bin edges are the primary and secondary colours in both).
    hue = np.arctan2(np.sqrt(3.0) * (g - b), 2.0 * r - g - b) / (2.0 * np.pi) % 1.0
    return np.minimum((hue * bins).astype(np.int32), bins - 1)


def hidden_shares(masks, foreground):
    """Mean share of the object and of the image under `masks` `(B, H, W)` in [0, 1]."""
    masks = np.asarray(masks, np.float64)
    foreground = np.asarray(foreground, bool)
    per_image = (masks * foreground).sum(axis=(1, 2)) / np.maximum(foreground.sum(axis=(1, 2)), 1)
    return float(per_image.mean()), float(masks.mean())


def most_of_the_object(learned, foreground):
    """Per image, the one of the N masks `(B, H, W, N)` that hides most of the object."""
    object_mass = (np.asarray(learned) * np.asarray(foreground, np.float32)[..., None]).sum(axis=(1, 2))
    pick = object_mass.argmax(axis=1)
    return np.take_along_axis(np.asarray(learned), pick[:, None, None, None], axis=3)[..., 0]


def occlusions(images, truth, masker=None, seed=0, batch_size=256):
    """Every variant's occlusion of `images`: a dict name -> float masks `(B, H, W)`, 1 = hidden."""
    from keras_adios import layers

    foreground, parts = truth["foreground"], truth["parts"]
    big = largest_part(parts)
    out = {
        "original": np.zeros(foreground.shape, np.float32),
        "largest part hidden": big.astype(np.float32),
        "all but the largest part hidden": (foreground & ~big).astype(np.float32),
    }
    if masker is not None:
        learned = np.concatenate([
            np.asarray(masker(images[i : i + batch_size], training=False))
            for i in range(0, len(images), batch_size)
        ])
        for n in range(learned.shape[-1]):
            out[f"learned, mask {n + 1}"] = learned[..., n]
        out["learned, most of the object"] = most_of_the_object(learned, foreground)
    for name, layer in (("random blocks (30 %)", layers.RandomBlockMasker(mask_ratio=0.3, seed=seed)),
                        ("random patches (75 %)", layers.RandomPatchMasker(mask_ratio=0.75, seed=seed))):
        out[name] = np.concatenate([
            np.asarray(layer(images[i : i + batch_size]))[..., 0] for i in range(0, len(images), batch_size)
        ])
    return out


def measure(encoder, masker, train, test, probe_epochs, seed):
    """The table's rows: per variant, probe accuracy and hidden shares."""
    from keras_adios import evaluation

    masks = occlusions(test["images"], test, masker=masker, seed=seed)
    variants = {name: (test["images"] * (1.0 - m[..., None]), test["labels"]) for name, m in masks.items()}
    accuracies = evaluation.background_robustness(
        encoder, None, variants, train_data=(train["images"], train["labels"]),
        probe_kwargs={"epochs": probe_epochs, "seed": seed},
    )
    rows = []
    for name, m in masks.items():
        object_share, image_share = hidden_shares(m, test["foreground"])
        rows.append({"variant": name, "accuracy": accuracies[name],
                     "object_hidden": object_share, "image_hidden": image_share})
    hue = evaluation.background_robustness(
        encoder, None, {"hue": (test["images"], largest_part_hue(test["pixels"], test["parts"]))},
        train_data=(train["images"], largest_part_hue(train["pixels"], train["parts"])),
        probe_kwargs={"epochs": probe_epochs, "seed": seed},
    )["hue"]
    return rows, hue


def _load_run(run_dir, name):
    import keras

    import keras_adios  # noqa: F401  (registers the serializable classes)

    with open(os.path.join(run_dir, "flags.json")) as f:
        settings = json.load(f)
    return keras.saving.load_model(os.path.join(run_dir, f"{name}.keras")), settings


def _data(dataset, num_train, num_eval, seed):
    from keras_adios import data as data_lib
    from keras_adios import experiment

    shapes = data_lib.synthetic_shapes_options(dataset)
    if shapes is None:
        raise ValueError(f"The occlusion analysis needs the built-in shapes (ground-truth parts). "
                         f"Received: dataset={dataset!r}")
    size = shapes["image_size"]
    config = experiment.augmentation_config(dataset, size)
    splits = []
    for split, num in (("train", num_train), ("test", num_eval)):
        truth = data_lib.load_synthetic_shapes(split, num_images=num, image_size=size, seed=seed,
                                               background=shapes["background"])
        truth["pixels"] = truth["images"]
        truth["images"] = np.asarray(data_lib.normalize(truth["images"].astype("float32") / 255.0, config))
        splits.append(truth)
    return splits


def markdown(rows, hue, meta):
    lines = [
        "# What the masks take away: probe accuracy on occluded test images",
        "",
        f"Written by `benchmarks/occlusion.py` on {meta['date']} at commit `{meta['commit']}`, backend "
        f"{meta['backend']}, {meta['seconds']:.0f} s. Encoder: `{meta['encoder_run']}`; masker: "
        f"`{meta['masker_run']}`; dataset `{meta['dataset']}`. Linear probe ({meta['probe_epochs']} epochs) "
        f"fitted on clean features of {meta['num_train_images']} training images, applied unchanged to "
        f"{meta['num_eval_images']} test images per variant (`x * (1 - m)` on normalised images); "
        f"chance = {meta['chance']:.3f}.",
        "",
        "| occlusion | probe accuracy | object hidden | image hidden |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['accuracy']:.3f} | {r['object_hidden']:.2f} | {r['image_hidden']:.2f} |")
    lines += ["", f"Hue of the largest part (6 bins, chance 0.167), probe on clean features: **{hue:.3f}**."]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    import datetime

    import keras

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from quality import _commit

    start = time.time()
    keras.utils.set_random_seed(FLAGS.seed)
    try:
        if FLAGS.quick:
            from keras_adios import encoders
            from keras_adios import layers

            dataset, num_train, num_eval, epochs = "shapes32", 64, 64, 2
            encoder = encoders.SmallResNet(input_shape=(32, 32, 3), widths=(8, 16))
            masker = layers.MaskGenerator(num_masks=3, filters=8)
            runs = ("untrained SmallResNet", "untrained MaskGenerator")
        else:
            if not FLAGS.encoder_run:
                raise ValueError("Pass --encoder_run (a run folder with encoder.keras) or --quick.")
            encoder, settings = _load_run(FLAGS.encoder_run, "encoder")
            masker = _load_run(FLAGS.masker_run, "masker")[0] if FLAGS.masker_run else None
            dataset, num_train, num_eval, epochs = (settings["dataset"], FLAGS.num_train_images,
                                                    FLAGS.num_eval_images, FLAGS.probe_epochs)
            runs = (FLAGS.encoder_run, FLAGS.masker_run)
        train, test = _data(dataset, num_train, num_eval, FLAGS.seed)
        rows, hue = measure(encoder, masker, train, test, epochs, FLAGS.seed)
    except (ValueError, FileNotFoundError) as e:
        logging.error("%s", e)
        sys.exit(1)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(), "backend": keras.backend.backend(), "seconds": time.time() - start,
        "encoder_run": runs[0], "masker_run": runs[1], "dataset": dataset, "probe_epochs": epochs,
        "num_train_images": num_train, "num_eval_images": num_eval,
        "chance": 1.0 / len(np.unique(train["labels"])), "seed": FLAGS.seed,
    }
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows, "hue_accuracy": hue}, f, indent=2)
    with open(FLAGS.output + ".md", "w") as f:
        f.write(markdown(rows, hue, meta))
    print(markdown(rows, hue, meta))


if __name__ == "__main__":
    define_flags()
    app.run(main)
