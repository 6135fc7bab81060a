"""One ADIOS experiment end to end: data, model, training, evaluation, files.

This is the library behind `python -m keras_adios.train` and
`python -m keras_adios.evaluate`; every function takes plain Python values so
it can be used from notebooks and tests too. An experiment writes a run
folder:

    run_dir/
      flags.json          the settings used (re-read by evaluate and resume)
      adios.keras         the whole ADIOS model (encoder, masker, heads, optimizers)
      encoder.keras       the encoder alone, for downstream Keras models (normalised inputs)
      encoder_pixels.keras  the same with the normalisation inside: RGB images in [0, 1]
      input_convention.json the mean/std/size the encoder expects
      masker.keras        the mask generator alone (when there is one), for images of the
                          training size (its UNet bottleneck is fully connected, as the authors')
      masks/              masks_epoch_XXX.png grids, one per epoch
      metrics.json/.csv   training metrics per epoch
      evaluation.json     linear probe, kNN, clustering, mask and background scores
      tensorboard/        TensorBoard logs (metrics and mask grids)
      backup/             BackupAndRestore state while training (removed at the end)
"""

import contextlib
import json
import os
import shutil
import sys
import time
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_adios import data as data_lib
from keras_adios import encoders
from keras_adios import evaluation
from keras_adios import layers
from keras_adios import objectives
from keras_adios import optimizers
from keras_adios import schedules
from keras_adios.callbacks import KNNMonitor
from keras_adios.callbacks import MaskQualityMonitor
from keras_adios.callbacks import MaskVisualizer
from keras_adios.callbacks import MetricsLogger
from keras_adios.callbacks import NonFiniteGuard
from keras_adios.models import ADIOS
from keras_adios import experiment_settings
from keras_adios.experiment_settings import DEFAULTS  # noqa: F401 (public: the settings' defaults)

MASKINGS = experiment_settings.choices("masking")
OBJECTIVES = experiment_settings.choices("objective")
ENCODERS = experiment_settings.choices("encoder")
OPTIMIZERS = experiment_settings.choices("optimizer")


def resolve_settings(overrides):
    """`DEFAULTS` updated with `overrides` and validated (see `experiment_settings`)."""
    settings = experiment_settings.resolve_settings(overrides)
    if settings["color_jitter"] is not None:
        parse_color_jitter(settings["color_jitter"])
    if settings["augmentation"] is not None:
        data_lib.AugmentationConfig.preset(settings["augmentation"])  # names the presets if unknown
    return settings


def parse_color_jitter(value):
    """`"b,c,s,h"` (or 4 numbers) -> AugmentationConfig keyword arguments."""
    parts = str(value).split(",") if isinstance(value, str) else list(value)
    try:
        numbers = [float(v) for v in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4:
        raise ValueError(
            "--color_jitter must be 4 comma-separated numbers "
            f"brightness,contrast,saturation,hue. Received: {value!r}"
        )
    return dict(zip(("brightness", "contrast", "saturation", "hue"), numbers))


def augmentation_config(dataset, image_size, color_jitter=None, preset=None):
    """The augmentation preset of a dataset, at the size of its images.

    Named datasets use their preset (statistics from the paper's code); the
    synthetic shapes use theirs; folders and other sources use ImageNet
    statistics. `preset` (an `AugmentationConfig.PRESETS` name, e.g.
    `"cifar10_solo_learn"` for a CIFAR-10 image folder) replaces the dataset's
    choice; `color_jitter` (`"b,c,s,h"`) overrides the preset's colour jitter
    strengths.
    """
    key = dataset.lower()
    shapes = data_lib.synthetic_shapes_options(dataset)
    if preset is not None:
        name = preset
    elif shapes is not None:
        name = f"shapes{shapes['image_size']}"
        if shapes["background"] == "shortcut":
            name += "_shortcut"
    elif key in ("cifar10", "cifar100", "stl10", "imagenet100s", "imagenet100"):
        name = key
    else:
        name = "imagenet100"
    overrides = parse_color_jitter(color_jitter) if color_jitter is not None else {}
    config = data_lib.AugmentationConfig.preset(name, **overrides)
    if config.image_size != image_size:
        config = data_lib.AugmentationConfig.preset(name, image_size=int(image_size), **overrides)
    return config


def run_augmentation(settings, image_size):
    """`augmentation_config` of a run's settings (dataset, `augmentation`, `color_jitter`)."""
    return augmentation_config(
        settings["dataset"], image_size, color_jitter=settings["color_jitter"],
        preset=settings["augmentation"],
    )


def load_split(settings, split, num_images):
    """Loads one split as (images, labels) arrays or a tf.data.Dataset."""
    return data_lib.load_dataset(
        settings["dataset"],
        split=split,
        data_dir=settings["data_dir"],
        manual_dir=settings["manual_dir"],
        download=settings["download"],
        num_images=num_images,
        image_size=settings["load_size"],
        seed=settings["seed"],
    )


#: Constructor arguments of each objective -> the setting that gives them.
_OBJECTIVE_SETTINGS = {
    "simclr": {"temperature": "temperature", "projection_dim": "projection_dim", "hidden_dim": "hidden_dim"},
    "byol": {
        "projection_dim": "projection_dim",
        "hidden_dim": "hidden_dim",
        "predictor_hidden_dim": "predictor_hidden_dim",
    },
    "simsiam": {
        "projection_dim": "projection_dim",
        "hidden_dim": "hidden_dim",
        "predictor_hidden_dim": "predictor_hidden_dim",
        "use_symmetry_mask": "simsiam_symmetry_mask",
        "use_no_mask": "simsiam_no_mask",
        "use_both_mask": "simsiam_both_mask",
    },
    "vicreg": {"projection_dim": "projection_dim", "hidden_dim": "hidden_dim"},
}


def build_model(settings, image_shape, num_classes, total_steps=None):
    """The ADIOS model (encoder, masker, objective) for these settings.

    Its layers are built under `settings["dtype_policy"]`; the global dtype
    policy is restored afterwards (evaluation probes stay float32).
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(settings["dtype_policy"])
    try:
        return _build_model(settings, image_shape, num_classes, total_steps)
    finally:
        keras.config.set_dtype_policy(previous)


def _build_model(settings, image_shape, num_classes, total_steps):
    widths = tuple(int(w) for w in str(settings["encoder_widths"]).split(","))
    if settings["encoder"] == "small_resnet":
        encoder = encoders.SmallResNet(input_shape=image_shape, widths=widths)
    elif settings["encoder"] == "vit_tiny":
        encoder = encoders.ViTTiny(input_shape=image_shape, patch_size=settings["patch_size"])
    else:
        stem = settings["encoder"].split("_")[1]
        encoder = encoders.ResNet18(input_shape=image_shape, stem=stem)
    masking = settings["masking"]
    if masking in ("adios", "adios_s"):
        masker = layers.MaskGenerator(
            num_masks=settings["num_masks"],
            filters=settings["mask_filters"],
            norm=settings["mask_norm"],
            num_blocks=settings["mask_blocks"],
        )
    elif masking == "random":
        masker = layers.RandomPatchMasker(
            mask_ratio=settings["mask_ratio"] or 0.75, seed=settings["seed"]
        )
    elif masking == "block":
        masker = layers.RandomBlockMasker(
            mask_ratio=settings["mask_ratio"] or 0.3, seed=settings["seed"]
        )
    else:
        masker = None
    name = settings["objective"]
    kwargs = {key: settings[setting] for key, setting in _OBJECTIVE_SETTINGS[name].items()}
    if name == "byol":
        kwargs["total_steps"] = max(int(total_steps or 0), 1)  # the momentum schedule's K
    objective = objectives.get(name, **kwargs)
    return ADIOS(
        encoder,
        masker,
        objective=objective,
        sparsity_weight=settings["sparsity_weight"],
        skip_nonfinite=settings["skip_nonfinite"],
        per_view_backward=settings["per_view_backward"],
        entropy_weight=settings["entropy_weight"],
        single_mask=masking == "adios_s",
        num_classes=num_classes,
        seed=settings["seed"],
    )


def make_optimizer(settings, learning_rate, steps_per_epoch, weight_decay=None):
    """Adam, SGD or LARS-SGD with the authors' warmup-cosine schedule (per step)."""
    total = settings["epochs"] * steps_per_epoch
    warmup = min(settings["warmup_epochs"] * steps_per_epoch, max(total - 1, 0))
    schedule = schedules.WarmupCosine(
        learning_rate,
        total_steps=max(total, 1),
        warmup_steps=warmup,
        warmup_learning_rate=(
            learning_rate * 0.03
            if settings["warmup_learning_rate"] is None
            else settings["warmup_learning_rate"]
        ),
    )
    wd = settings["weight_decay"] if weight_decay is None else weight_decay
    if settings["optimizer"] == "adam":
        return keras.optimizers.AdamW(schedule, weight_decay=wd or None)
    if settings["optimizer"] == "sgd":
        return keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=wd or None)
    return optimizers.LARS(schedule, momentum=0.9, weight_decay=wd)


def train(settings, verbose="auto"):
    """Trains (or resumes) an experiment; returns the evaluation results dict."""
    settings = resolve_settings(settings)
    run_dir = settings["output_dir"]
    state, initial_epoch = run_state(settings)
    if state == "finished":
        logging.info(
            "%s is a finished run with these settings: not training it again (pass "
            "--overwrite, or another --output_dir, to train anew). Its evaluation follows.", run_dir,
        )
        with open(os.path.join(run_dir, "evaluation.json")) as f:
            return json.load(f)
    if state == "overwrite":
        logging.info("--overwrite: deleting %s and training anew.", run_dir)
        shutil.rmtree(run_dir)
    keras.utils.set_random_seed(settings["seed"])
    start = time.time()

    train, held_out = load_splits(settings)
    # The folder is written only once the data loaded: a run that fails before
    # training leaves nothing that looks like a run.
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "flags.json"), "w") as f:
        json.dump(settings, f, indent=2, sort_keys=True)
    config = run_augmentation(settings, image_size(settings, train))
    num_classes = None
    if train.num_classes is not None:
        num_classes = max(train.num_classes, held_out.num_classes or 0)

    batch_size = settings["batch_size"]
    if batch_size > train.size:
        raise ValueError(
            f"--batch_size must be at most the number of training images ({train.size}) "
            f"(one whole batch per step). Received: --batch_size={batch_size}"
        )
    train_ds = data_lib.make_pretrain_dataset(
        train.data, config=config, batch_size=batch_size, seed=settings["seed"],
        initial_epoch=initial_epoch,  # a resumed run sees the data of an uninterrupted one
        shuffle_buffer_size=settings["shuffle_buffer"],
    )
    steps_per_epoch = settings["steps_per_epoch"] or train.size // batch_size

    with _distribution_scope():
        model = build_model(
            settings, (config.image_size, config.image_size, 3), num_classes,
            total_steps=settings["epochs"] * steps_per_epoch,
        )
        model.compile(
            encoder_optimizer=make_optimizer(settings, settings["learning_rate"], steps_per_epoch),
            masker_optimizer=make_optimizer(settings, settings["mask_learning_rate"], steps_per_epoch),
            probe_optimizer=keras.optimizers.Adam(settings["probe_learning_rate"]),
            jit_compile=_jit_flag(settings["jit_compile"]),
        )
    logging.info(
        "ADIOS %s/%s on %s: %d train images, %d eval images, %d steps/epoch, backend %s",
        settings["objective"], settings["masking"], settings["dataset"],
        train.size, held_out.size, steps_per_epoch, keras.backend.backend(),
    )

    eval_batches = data_lib.make_eval_dataset(held_out.data, config=config, batch_size=256)
    # A pool spread over the split (every k-th image); MaskVisualizer then takes
    # the classes in turn, so a class-sorted folder still shows every class.
    pool = [(x, y) for x, y in data_lib.make_eval_dataset(
        subsample(held_out, 50 * settings["num_vis_images"]), config=config, batch_size=256,
    ).unbatch().as_numpy_iterator()]
    vis_images = (np.stack([x for x, _ in pool]),
                  None if pool[0][1] is None else np.stack([y for _, y in pool]))
    resumed = state == "resume"
    if resumed:
        logging.info(
            "Resuming %s from epoch %d of %d (its state after epoch %d is in %s).",
            run_dir, initial_epoch + 1, settings["epochs"], initial_epoch, os.path.join(run_dir, "backup"),
        )
    callbacks = [
        NonFiniteGuard(run_dir=run_dir),
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup")),
        MetricsLogger(run_dir, append=resumed),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard"), write_graph=False),
    ]
    if model.masker is not None:
        callbacks.insert(
            1,
            MaskVisualizer(
                vis_images,
                os.path.join(run_dir, "masks"),
                max_images=settings["num_vis_images"],
                denormalize=lambda x: data_lib.denormalize(x, config),
                tensorboard_dir=os.path.join(run_dir, "tensorboard"),
            ),
        )
    shapes = data_lib.synthetic_shapes_options(settings["dataset"])
    if model.masker is not None and shapes is not None:
        truth = data_lib.load_synthetic_shapes(
            settings["eval_split"], num_images=min(held_out.size, 500),
            image_size=config.image_size, seed=settings["seed"], background=shapes["background"],
        )
        callbacks.insert(1, MaskQualityMonitor(
            np.asarray(data_lib.normalize(truth["images"].astype("float32") / 255.0, config)),
            foreground=truth["foreground"], parts=truth["parts"],
            every_n_epochs=settings["monitor_every"],
        ))
    elif model.masker is not None:
        # No ground truth: the masks' confidence and coverage, on images spread over the split.
        monitored = np.concatenate([x for x, _ in data_lib.make_eval_dataset(
            subsample(held_out, 500), config=config, batch_size=256).as_numpy_iterator()])
        callbacks.insert(1, MaskQualityMonitor(monitored, every_n_epochs=settings["monitor_every"]))
    if train.num_classes is not None:
        knn_train = data_lib.make_eval_dataset(subsample(train, 2000), config=config, batch_size=256)
        callbacks.insert(1, KNNMonitor(
            knn_train, eval_batches, k=settings["knn_k"], temperature=settings["knn_temperature"],
            every_n_epochs=settings["monitor_every"], probe_epochs=settings["monitor_probe_epochs"],
        ))

    model.fit(
        train_ds,
        epochs=settings["epochs"],
        steps_per_epoch=settings["steps_per_epoch"],
        callbacks=callbacks,
        verbose=_fit_verbosity(settings["verbose"] if verbose == "auto" else verbose),
        shuffle=False,  # the tf.data pipeline shuffles, seeded
    )
    train_seconds = time.time() - start
    model.save(os.path.join(run_dir, "adios.keras"))
    model.encoder.save(os.path.join(run_dir, "encoder.keras"))
    save_input_convention(model.encoder, config, run_dir)
    if model.masker is not None:
        _save_layer(model.masker, (config.image_size, config.image_size, 3), os.path.join(run_dir, "masker.keras"))

    results = evaluate_model(model, settings, config, train, held_out)
    results["train_seconds"] = round(train_seconds, 1)
    results["steps_per_epoch"] = int(steps_per_epoch)
    results["num_train_images"] = int(train.size)
    results["total_seconds"] = round(time.time() - start, 1)
    results["backend"] = keras.backend.backend()
    with open(os.path.join(run_dir, "evaluation.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    return results


def evaluate_model(model, settings, config, train, held_out, verbose=0):
    """`evaluation.evaluate_representation` with a run's settings and data.

    `train` and `held_out` are `Split`s; the images stream through the encoder
    in batches of 256 and only their features are kept. On the synthetic
    shapes the held-out split's ground truth adds the mask scores and the
    background variants; elsewhere a masker gets the scores that need no
    ground truth (confidence, coverage spread).
    """
    if train.num_classes is None:
        return {}
    mask_data = variants = None
    shapes = data_lib.synthetic_shapes_options(settings["dataset"])
    if shapes is not None:
        ground_truth = data_lib.load_synthetic_shapes(
            settings["eval_split"], num_images=held_out.size,
            image_size=held_out.image_size, seed=settings["seed"],
            background=shapes["background"],
        )
        if model.masker is not None:
            normalized = data_lib.normalize(ground_truth["images"].astype("float32") / 255.0, config)
            mask_data = {
                "images": np.asarray(normalized),
                "foreground": ground_truth["foreground"],
                "parts": ground_truth["parts"],
            }
        variants = {
            name: data_lib.make_eval_dataset(images, ground_truth["labels"], config=config, batch_size=256)
            for name, images in data_lib.background_variants(ground_truth, seed=settings["seed"]).items()
        }
    elif model.masker is not None:
        # No ground truth: the masks' confidence and coverage spread on about
        # 1000 evaluation images spread over the split.
        mask_data = {"images": np.concatenate([x for x, _ in data_lib.make_eval_dataset(
            subsample(held_out, 1000), config=config, batch_size=256).as_numpy_iterator()])}
    return evaluation.evaluate_representation(
        model.encoder,
        data_lib.make_eval_dataset(train.data, config=config, batch_size=256),
        data_lib.make_eval_dataset(held_out.data, config=config, batch_size=256),
        masker=model.masker,
        mask_data=mask_data,
        background_variants=variants,
        probe_epochs=settings["probe_epochs"],
        knn_k=settings["knn_k"],
        knn_temperature=settings["knn_temperature"],
        seed=settings["seed"],
    )


def settings_differences(saved, settings):
    """The settings that make a run folder's `flags.json` (`saved`) another run than `settings`.

    Settings missing on either side count as their defaults (a folder written
    before a setting existed resumes under its default); run-control settings
    (`RUN_CONTROL`) and `output_dir` never count. Returns one line per
    difference, empty when the folder is this run.
    """
    ignored = set(experiment_settings.RUN_CONTROL) | {"output_dir"}
    return [
        f"--{key}: {saved.get(key, DEFAULTS.get(key))!r} in the folder, {settings.get(key, DEFAULTS.get(key))!r} now"
        for key in sorted(set(saved) | set(settings))
        if key not in ignored and saved.get(key, DEFAULTS.get(key)) != settings.get(key, DEFAULTS.get(key))
    ]


def run_state(settings):
    """What `train` will do with `settings["output_dir"]`, decided before anything is written.

    Returns:
        `(state, initial_epoch)` with state `"new"` (no run there yet),
        `"resume"` (an interrupted run with the same settings; training goes
        on from `initial_epoch`, the number of finished epochs), `"finished"`
        (a finished run with the same settings: nothing is retrained) or
        `"overwrite"` (`settings["overwrite"]`: the folder is deleted).

    Raises:
        ValueError: the folder holds a run made with other settings (the
            message lists every difference), or something that is not a run.
    """
    run_dir = settings["output_dir"]
    flags_path = os.path.join(run_dir, "flags.json")
    if not os.path.isdir(run_dir) or not os.listdir(run_dir):
        return "new", 0
    if settings.get("overwrite"):
        return "overwrite", 0
    if not os.path.exists(flags_path):
        raise ValueError(
            f"--output_dir={run_dir} exists and is not a keras_adios run folder (no flags.json). "
            "Choose another --output_dir, or pass --overwrite to delete it."
        )
    with open(flags_path) as f:
        saved = json.load(f)
    differences = settings_differences(saved, settings)
    if differences:
        raise ValueError(
            f"--output_dir={run_dir} holds a run made with other settings:\n  "
            + "\n  ".join(differences)
            + "\nRerun with its settings to resume or reuse it, choose another --output_dir, "
            "or pass --overwrite to delete it and train anew."
        )
    if os.path.exists(os.path.join(run_dir, "evaluation.json")):
        return "finished", settings["epochs"]
    metadata = os.path.join(run_dir, "backup", "training_metadata.json")
    epoch = 0
    if os.path.exists(metadata):
        with open(metadata) as f:
            epoch = int(json.load(f).get("epoch", 0))
    return "resume", epoch


def image_size(settings, train):
    """The training image size: `crop_size`, else the training split's image size (logged when mixed)."""
    if settings["crop_size"]:
        return int(settings["crop_size"])
    if len(train.shapes) > 1:
        logging.info(
            "The images have different sizes (%s, ...): training at %d px, the smallest short side "
            "among the first %d (--crop_size to choose another size); every image is resized by "
            "the crops and the evaluation transform.",
            ", ".join(f"{h}x{w}" for h, w in train.shapes[:3]), train.image_size, _PEEK,
        )
    return train.image_size


def _fit_verbosity(verbose):
    """`fit`'s verbose from the setting: a bar on a terminal, one line per epoch in a log."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return {"bar": 1, "epoch": 2, "none": 0}.get(verbose, verbose)


def _distribution_scope():
    """TensorFlow: the strategy for this machine (TPU, all GPUs, or default).

    `--batch_size` is the global batch; the step scales losses so gradients
    equal single-device ones. Other backends train on one device here (JAX
    users can set a `keras.distribution.DataParallel` before calling `train`).
    """
    if keras.backend.backend() != "tensorflow":
        return contextlib.nullcontext()
    from keras_adios.distribute import get_strategy

    return get_strategy(verbose=False).scope()


class Split(NamedTuple):
    """One split of an experiment's data, as `load_splits` returns it.

    Attributes:
        data: `(images, labels)` NumPy arrays (in-memory sources: the built-in
            shapes, `npz:`, CIFAR) or a `tf.data.Dataset` of `(image, label)`
            read from files as it is iterated (image folders, TFDS): such a
            split is never held in memory.
        size: int, the number of images.
        num_classes: int or `None` (no labels).
        shapes: the distinct `(height, width)` among the images looked at
            (all of an array split, the first 64 of a streamed one).
    """

    data: object
    size: int
    num_classes: object
    shapes: tuple

    @property
    def image_size(self):
        """The smallest short side among `shapes`."""
        return min(min(shape) for shape in self.shapes)


#: How many images of a streamed split are looked at for their size.
_PEEK = 64


def load_splits(settings):
    """The training and evaluation splits: `(train, eval)`, two `Split`s.

    Image folders and TFDS datasets stream from their files through `tf.data`
    (memory does not grow with the dataset); the built-in shapes, `npz:` files
    and CIFAR are arrays. An image folder
    without `train_split` / `eval_split` sub-folders is split by a seeded
    random held-out fraction of its files (`holdout_fraction`, logged), so
    `keras_adios.evaluate` reproduces the same split. Images may have
    different sizes: the pretraining crops and the evaluation transform
    resize every image.
    """
    path = holdout_folder(settings)
    if path is not None:
        return _holdout_splits(settings, path)
    split_names = (settings["train_split"], settings["eval_split"])
    counts = (settings["num_train_images"], settings["num_eval_images"])
    return tuple(_as_split(load_split(settings, split, count)) for split, count in zip(split_names, counts))


def holdout_folder(settings):
    """The image folder that `load_splits` splits by a held-out fraction, or `None`.

    That is a `folder:PATH` dataset whose PATH exists and has neither a
    `train_split` nor an `eval_split` sub-folder: its evaluation images are a
    seeded `holdout_fraction` of its files, not a separate split.
    """
    dataset = settings["dataset"]
    if not dataset.lower().startswith("folder:"):
        return None
    path = dataset[len("folder:"):]
    split_names = (settings["train_split"], settings["eval_split"])
    if os.path.isdir(path) and not any(os.path.isdir(os.path.join(path, s)) for s in split_names):
        return path
    return None


def _holdout_splits(settings, path):
    class_names, paths, labels = data_lib.list_image_folder(path)
    fraction = settings["holdout_fraction"]
    count = int(round(fraction * len(paths)))
    if not 0 < count < len(paths):
        raise ValueError(
            f"--holdout_fraction={fraction} of {len(paths)} images in {path} leaves no training "
            "or no evaluation images; the folder has no "
            f"'{settings['train_split']}'/'{settings['eval_split']}' sub-folders, so both come from it. "
            f"Received: --holdout_fraction={fraction}"
        )
    order = np.random.default_rng(settings["seed"]).permutation(len(paths))
    held, kept = sorted(order[:count]), sorted(order[count:])
    logging.info(
        "%s has no %s/ and %s/ sub-folders: holding out %d of its %d images for evaluation "
        "(--holdout_fraction=%g, seed %d).", path, settings["train_split"], settings["eval_split"],
        count, len(paths), fraction, settings["seed"],
    )
    return tuple(
        _as_split(data_lib.image_folder_dataset(
            [paths[i] for i in indices], [labels[i] for i in indices],
            image_size=settings["load_size"], class_names=class_names,
        ))
        for indices in (kept, held)
    )


def _as_split(source):
    if isinstance(source, tuple):
        images, labels = data_lib.validate_arrays(*source)
        num_classes = None if labels is None else int(labels.max()) + 1
        return Split((images, labels), len(images), num_classes, (tuple(int(d) for d in images.shape[1:3]),))
    size = int(source.cardinality())
    if size < 0:  # unknown: count in one streaming pass
        size = int(source.reduce(np.int64(0), lambda n, _: n + 1))
    has_labels = isinstance(source.element_spec, tuple)
    num_classes = None
    if has_labels:
        names = getattr(source, "class_names", None)
        num_classes = len(names) if names else int(
            source.map(lambda image, label: label).reduce(np.int32(-1), tf.maximum)) + 1
    shapes = sorted({tuple(int(d) for d in image.shape[:2]) for image in (
        (e[0] if has_labels else e) for e in source.take(_PEEK).as_numpy_iterator())})
    return Split(source, size, num_classes, tuple(shapes))


def subsample(split, count):
    """About `count` examples spread evenly over a `Split` (every k-th), as its `data`.

    Every k-th rather than the first `count`, so a split stored class by class
    (an image folder) keeps all its classes; a streamed split stays streamed.
    """
    stride = max(1, -(-split.size // int(count)))
    if isinstance(split.data, tf.data.Dataset):
        return split.data.shard(stride, 0)
    return tuple(None if a is None else a[::stride] for a in split.data)


def save_input_convention(encoder, config, run_dir):
    """Writes how the encoder expects its images, next to `encoder.keras`.

    `encoder.keras` takes images normalised with the dataset's per-channel
    mean and std, as in training. The run folder also gets
    `input_convention.json` (the mean, std, image size and value range) and
    `encoder_pixels.keras`: the same encoder behind a fixed
    `keras.layers.Normalization`, taking RGB images in [0, 1] (uint8 / 255),
    so downstream users cannot feed it the wrong scale.
    """
    image_shape = (config.image_size, config.image_size, 3)
    convention = {
        "encoder.keras": "RGB images in [0, 1], then (x - mean) / std per channel",
        "encoder_pixels.keras": "RGB images in [0, 1] (normalisation inside)",
        "mean": [float(m) for m in config.mean],
        "std": [float(s) for s in config.std],
        "image_size": int(config.image_size),
        "channels_last": True,
    }
    with open(os.path.join(run_dir, "input_convention.json"), "w") as f:
        json.dump(convention, f, indent=2)
    inputs = keras.Input(image_shape, name="pixels")
    normalized = keras.layers.Normalization(
        mean=list(config.mean), variance=[float(s) ** 2 for s in config.std], name="normalize"
    )(inputs)
    keras.Model(inputs, encoder(normalized), name="encoder_pixels").save(
        os.path.join(run_dir, "encoder_pixels.keras")
    )


def _save_layer(layer, image_shape, path):
    inputs = keras.Input(image_shape)
    keras.Model(inputs, layer(inputs), name="masker").save(path)


def _jit_flag(value):
    if isinstance(value, bool) or value == "auto":
        return value
    return str(value).lower() in ("1", "true", "yes")
