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

A third table asks which partition of the image is the adversary's best move
against a trained model (`--loss_runs`: run folders with `adios.keras`): the sum
over the N masks of the model's SSL loss between a test image and its masked copy
(the masker's objective before the sparsity penalty; here both views are the
un-augmented image), for the masker's own masks and for hand-made hard
partitions: the whole object under one mask, or the object split in two (its
largest part / the rest), the background shared out among the other masks. If
splitting the object scores higher than hiding it whole, a masker that maximises
the loss learns to split objects, and no single mask can reach a high IoU with
the foreground.

A second probe asks what else the features carry: the hue of the object's largest
part (6 bins of 60 degrees; part colours are random and class-independent), fitted
and tested on clean images the same way. An encoder that matches occluded views
by colour rather than by shape predicts the hue better and the class worse.

Usage (run folders of `python -m keras_adios.train` on one of the shapes datasets:
their `encoder.keras` side by side and, for the learned masks, one `masker.keras`,
which may come from another run):

```shell
python benchmarks/occlusion.py --encoder_runs=runs/adios_none,runs/adios --masker_run=runs/adios \
    --loss_runs=runs/adios_none,runs/adios --output=benchmarks/results/occlusion_shapes32
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
    flags.DEFINE_list("encoder_runs", [], "Run folders with encoder.keras and flags.json, compared side by side.")
    flags.DEFINE_list("loss_runs", [], "Run folders with adios.keras whose SSL loss scores the partitions.")
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


def occlusions(images, truth, learned=None, seed=0):
    """Every variant's occlusion of `images`: a dict name -> float masks `(B, H, W)`, 1 = hidden.

    `learned`: the masker's masks of `images` `(B, H, W, N)` (`compute_masks`), or None.
    """
    from keras_adios import evaluation
    from keras_adios import layers

    foreground, parts = truth["foreground"], truth["parts"]
    big = largest_part(parts)
    out = {
        "original": np.zeros(foreground.shape, np.float32),
        "largest part hidden": big.astype(np.float32),
        "all but the largest part hidden": (foreground & ~big).astype(np.float32),
    }
    if learned is not None:
        for n in range(learned.shape[-1]):
            out[f"learned, mask {n + 1}"] = learned[..., n]
        out["learned, most of the object"] = most_of_the_object(learned, foreground)
    for name, layer in (("random blocks (30 %)", layers.RandomBlockMasker(mask_ratio=0.3, seed=seed)),
                        ("random patches (75 %)", layers.RandomPatchMasker(mask_ratio=0.75, seed=seed))):
        out[name] = evaluation.compute_masks(layer, images, batch_size=256)[..., 0]
    return out


def hard_partitions(foreground, parts, num_masks):
    """Hand-made partitions of every image into `num_masks` hard masks `(B, H, W, N)`.

    Returns a dict: `"object whole in one mask"` (mask 1 = the object, the
    background cut into `N - 1` vertical bands) and `"object split in two"`
    (mask 1 = the largest part, mask 2 = the rest of the object, the background
    cut into `N - 2` bands). Every pixel is in exactly one mask.
    """
    foreground = np.asarray(foreground, bool)
    width = foreground.shape[2]
    columns = np.arange(width)[None, None, :]
    big = largest_part(parts)

    def bands(count):
        edges = np.linspace(0, width, count + 1)
        return [~foreground & (columns >= lo) & (columns < hi) for lo, hi in zip(edges[:-1], edges[1:])]

    whole = [foreground] + bands(num_masks - 1)
    split = [big, foreground & ~big] + bands(num_masks - 2)
    return {name: np.stack(masks, axis=-1).astype(np.float32)
            for name, masks in (("object whole in one mask", whole), ("object split in two", split))}


def adversary_objective(model, images, mask_sets, sparsity_weight, batch_size=128):
    """The masker's objective for given partitions, against a trained ADIOS model.

    For every partition `(B, H, W, N)` in `mask_sets`: per full batch of
    `batch_size` images, each mask's SSL loss `objective.loss` between the
    image and its masked copy, and the sparsity penalty
    `sum_n mean_b 1 / (sin(pi * coverage) + 1e-10)`. Returns, per partition,
    the per-mask losses (averaged over batches), their sum, the penalty and
    `sum - sparsity_weight * penalty` (what the masker maximises).
    """
    from keras_adios import losses

    objective, encoder = model.objective, model.encoder
    out = {}
    for name, masks in mask_sets.items():
        per_mask, penalty = [], []
        for i in range(0, len(images) - batch_size + 1, batch_size):
            x = images[i : i + batch_size]
            m = masks[i : i + batch_size]
            clean = objective.encode(encoder, x, training=False)
            per_mask.append([
                float(objective.loss(clean, clean, None, objective.encode(
                    encoder, losses.masked_view(x, m[..., n : n + 1]), training=False)))
                for n in range(m.shape[-1])
            ])
            penalty.append(float(losses.sparsity_penalty(m)))
        per_mask = np.mean(per_mask, axis=0)
        out[name] = {"per_mask": per_mask.tolist(), "ssl": float(per_mask.sum()),
                     "penalty": float(np.mean(penalty)),
                     "masker_objective": float(per_mask.sum() - sparsity_weight * np.mean(penalty))}
    return out


def measure(encoders, learned, train, test, probe_epochs, seed):
    """Per variant: each encoder's probe accuracy and the hidden shares; and each encoder's hue probe.

    Args:
        encoders: dict label -> frozen encoder (normalised NHWC images in).
        learned: the masker's masks of the test images `(B, H, W, N)`, or None.
        train, test: `_data` splits (normalised `images`, uint8 `pixels`,
            `labels`, `foreground`, `parts`).

    Returns:
        `(rows, hue)`: rows `{"variant", "accuracy": {label: float},
        "object_hidden", "image_hidden"}` and `{label: hue accuracy}`.
    """
    from keras_adios import evaluation

    masks = occlusions(test["images"], test, learned=learned, seed=seed)
    variants = {name: (test["images"] * (1.0 - m[..., None]), test["labels"]) for name, m in masks.items()}
    hue_train = largest_part_hue(train["pixels"], train["parts"])
    hue_test = largest_part_hue(test["pixels"], test["parts"])
    probe = {"epochs": probe_epochs, "seed": seed, "verbose": 0}
    accuracies, hue = {}, {}
    for label, encoder in encoders.items():
        # One pass over the training images serves both probes.
        features, _ = evaluation.extract_features(encoder, train["images"], batch_size=256)
        _, classifier = evaluation.linear_probe(features, train["labels"], return_classifier=True, **probe)
        accuracies[label] = evaluation.background_robustness(encoder, classifier, variants)
        clean, _ = evaluation.extract_features(encoder, test["images"], batch_size=256)
        hue[label] = evaluation.linear_probe(features, hue_train, clean, hue_test, **probe)["test_accuracy"]
    rows = []
    for name, m in masks.items():
        object_share, image_share = hidden_shares(m, test["foreground"])
        rows.append({"variant": name, "accuracy": {label: accuracies[label][name] for label in encoders},
                     "object_hidden": object_share, "image_hidden": image_share})
    return rows, hue


def score_partitions(loss_models, learned, test, batch_size=128):
    """`adversary_objective` of every loss model, for the learned masks and the hand-made partitions.

    A model with its own masker is scored with that masker's masks, else with
    `learned` (the `--masker_run` masks of the test images).
    """
    from keras_adios import evaluation

    out = {}
    for label, (model, sparsity_weight) in loss_models.items():
        masks = learned
        if model.masker is not None:
            masks = evaluation.compute_masks(model.masker, test["images"], batch_size=256)
        if masks is None:
            raise ValueError(f"{label}: the model has no masker; pass --masker_run for the learned masks.")
        sets = {"learned masks": masks}
        sets.update(hard_partitions(test["foreground"], test["parts"], masks.shape[-1]))
        out[label] = adversary_objective(model, test["images"], sets, sparsity_weight, batch_size)
    return out


def _untrained_adios(masker):
    """A small untrained SimCLR ADIOS model around `masker` (for the smoke run)."""
    import keras_adios

    return keras_adios.ADIOS(
        keras_adios.encoders.SmallResNet(input_shape=(32, 32, 3), widths=(8, 16)), masker,
        objective=keras_adios.objectives.SimCLR(hidden_dim=16, projection_dim=8), input_shape=(32, 32, 3),
    )


def run_label(settings):
    """A short name for a run: objective, masking and epochs (e.g. `simclr adios_s, 20 ep`)."""
    return f"{settings['objective']} {settings['masking']}, {settings['epochs']} ep"


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


def markdown(rows, hue, meta, partitions=None):
    labels = list(hue)
    lines = [
        "# What the masks take away: probe accuracy on occluded test images",
        "",
        f"Written by `benchmarks/occlusion.py` on {meta['date']} at commit `{meta['commit']}`, backend "
        f"{meta['backend']}, {meta['seconds']:.0f} s; dataset `{meta['dataset']}`. Encoders: "
        + "; ".join(f"{label} (`{run}`)" for label, run in zip(labels, meta["encoder_runs"]))
        + f". Masker: `{meta['masker_run']}`. A linear probe ({meta['probe_epochs']} epochs) per encoder, "
        f"fitted on clean features of {meta['num_train_images']} training images, applied unchanged to "
        f"{meta['num_eval_images']} test images per variant (`x * (1 - m)` on normalised images); "
        f"chance = {meta['chance']:.3f}.",
        "",
        "| occlusion | object hidden | image hidden | " + " | ".join(labels) + " |",
        "|---|---|---|" + "---|" * len(labels),
    ]
    for r in rows:
        cells = " | ".join(f"{r['accuracy'][label]:.3f}" for label in labels)
        lines.append(f"| {r['variant']} | {r['object_hidden']:.2f} | {r['image_hidden']:.2f} | {cells} |")
    lines.append("| *hue of the largest part* (6 bins, chance 0.167), clean | – | – | "
                 + " | ".join(f"*{hue[label]:.3f}*" for label in labels) + " |")
    for label, scored in (partitions or {}).items():
        lines += [
            "",
            f"Which partition is the adversary's best move against **{label}**? Sum over the masks of "
            f"the model's SSL loss between a test image and its masked copy (batches of 128), the sparsity "
            f"penalty and the masker's objective (`ssl - sparsity_weight * penalty`):",
            "",
            "| partition | loss per mask | sum (SSL) | penalty | masker objective |",
            "|---|---|---|---|---|",
        ]
        for name, r in scored.items():
            per_mask = ", ".join(f"{v:.2f}" for v in r["per_mask"])
            lines.append(f"| {name} | {per_mask} | {r['ssl']:.3f} | {r['penalty']:.2f} | {r['masker_objective']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    import datetime

    import keras

    from keras_adios import evaluation

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from quality import _commit

    start = time.time()
    keras.utils.set_random_seed(FLAGS.seed)
    try:
        if FLAGS.quick:
            from keras_adios import encoders
            from keras_adios import layers

            dataset, num_train, num_eval, epochs = "shapes32", 128, 128, 2
            models = {f"untrained {i}": encoders.SmallResNet(input_shape=(32, 32, 3), widths=(8, 16))
                      for i in (1, 2)}
            masker = layers.MaskGenerator(num_masks=3, filters=8)
            runs, masker_run = ["-", "-"], "untrained MaskGenerator"
            loss_models = {"untrained": (_untrained_adios(masker), 1.0)}
        else:
            if not FLAGS.encoder_runs:
                raise ValueError("Pass --encoder_runs (run folders with encoder.keras) or --quick.")
            models, datasets, runs = {}, set(), list(FLAGS.encoder_runs)
            for run_dir in runs:
                encoder, settings = _load_run(run_dir, "encoder")
                label = run_label(settings)
                if label in models:
                    label = f"{label} ({run_dir})"
                models[label] = encoder
                datasets.add(settings["dataset"])
            if len(datasets) != 1:
                raise ValueError(f"The encoder runs must share one dataset. Received: {sorted(datasets)}")
            masker = _load_run(FLAGS.masker_run, "masker")[0] if FLAGS.masker_run else None
            masker_run = FLAGS.masker_run
            loss_models = {}
            for run_dir in FLAGS.loss_runs:
                model, settings = _load_run(run_dir, "adios")
                loss_models[run_label(settings)] = (model, settings["sparsity_weight"])
            dataset, num_train, num_eval, epochs = (datasets.pop(), FLAGS.num_train_images,
                                                    FLAGS.num_eval_images, FLAGS.probe_epochs)
        train, test = _data(dataset, num_train, num_eval, FLAGS.seed)
        learned = None if masker is None else evaluation.compute_masks(masker, test["images"], batch_size=256)
        rows, hue = measure(models, learned, train, test, epochs, FLAGS.seed)
        partitions = score_partitions(loss_models, learned, test)
    except (ValueError, FileNotFoundError) as e:
        logging.error("%s", e)
        sys.exit(1)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(), "backend": keras.backend.backend(), "seconds": time.time() - start,
        "encoder_runs": runs, "masker_run": masker_run, "dataset": dataset, "probe_epochs": epochs,
        "num_train_images": num_train, "num_eval_images": num_eval,
        "chance": 1.0 / len(np.unique(train["labels"])), "seed": FLAGS.seed,
    }
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows, "hue_accuracy": hue, "partitions": partitions}, f, indent=2)
    with open(FLAGS.output + ".md", "w") as f:
        f.write(markdown(rows, hue, meta, partitions))
    print(markdown(rows, hue, meta, partitions))


if __name__ == "__main__":
    define_flags()
    app.run(main)
