"""One ADIOS experiment end to end: data, model, training, evaluation, files.

This is the library behind `python -m keras_adios.train` and
`python -m keras_adios.evaluate`; every function takes plain Python values so
it can be used from notebooks and tests too. An experiment writes a run
folder:

    run_dir/
      flags.json          the settings used (re-read by evaluate and resume)
      adios.keras         the whole ADIOS model (encoder, masker, heads, optimizers)
      encoder.keras       the encoder alone, for downstream Keras models
      masker.keras        the mask generator alone (when there is one)
      masks/              masks_epoch_XXX.png grids, one per epoch
      metrics.json/.csv   training metrics per epoch
      evaluation.json     linear probe, kNN, clustering, mask and background scores
      tensorboard/        TensorBoard logs (metrics and mask grids)
      backup/             BackupAndRestore state while training (removed at the end)
"""

import contextlib
import json
import os
import time

import keras
import numpy as np
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
from keras_adios.models import ADIOS

#: Defaults of every experiment setting (the CLI flags mirror these names).
DEFAULTS = {
    "dataset": "shapes32",
    "data_dir": None,
    "manual_dir": None,
    "download": False,
    "train_split": "train",
    "eval_split": "test",
    "num_train_images": 2000,
    "num_eval_images": 1000,
    "load_size": None,
    "crop_size": None,
    "color_jitter": None,
    "objective": "simclr",
    "masking": "adios",
    "encoder": "small_resnet",
    "encoder_widths": "16,32,64",
    "num_masks": 4,
    "mask_filters": 16,
    "mask_norm": "group",
    "mask_blocks": None,
    "mask_ratio": None,
    "sparsity_weight": 1.0,
    "entropy_weight": 0.0,
    "temperature": 0.2,
    "projection_dim": 128,
    "hidden_dim": 512,
    "predictor_hidden_dim": 512,
    "simsiam_symmetry_mask": True,
    "simsiam_no_mask": True,
    "simsiam_both_mask": True,
    "epochs": 5,
    "batch_size": 128,
    "steps_per_epoch": None,
    "optimizer": "adam",
    "learning_rate": 2e-3,
    # 1e-2: in the 48-step quality runs (3 seeds) the masks reach foreground IoU
    # 0.52 +- 0.07 vs 0.35 +- 0.01 at 1e-3, same accuracy
    # (benchmarks/results/quality_mask_lr1e-2.md).
    "mask_learning_rate": 1e-2,
    "probe_learning_rate": 1e-3,
    "weight_decay": 1e-5,
    "warmup_epochs": 1,
    "warmup_learning_rate": None,
    "jit_compile": "auto",
    "seed": 0,
    "knn_k": 20,
    "knn_temperature": 0.07,
    "probe_epochs": 50,
    "num_vis_images": 8,
    "monitor_every": 1,
    "monitor_probe_epochs": None,
    "output_dir": "runs/adios",
}

MASKINGS = ("adios", "adios_s", "none", "random", "block")
OBJECTIVES = ("simclr", "byol", "simsiam")
ENCODERS = ("small_resnet", "resnet18_cifar", "resnet18_imagenet")
OPTIMIZERS = ("adam", "sgd", "lars")


def resolve_settings(overrides):
    """Merges `overrides` into `DEFAULTS` and validates the result."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"Unknown settings: {sorted(unknown)}. Allowed: {sorted(DEFAULTS)}")
    settings = dict(DEFAULTS)
    settings.update({k: v for k, v in overrides.items()})
    for key, allowed in (
        ("masking", MASKINGS),
        ("objective", OBJECTIVES),
        ("encoder", ENCODERS),
        ("optimizer", OPTIMIZERS),
    ):
        if settings[key] not in allowed:
            raise ValueError(f"--{key} must be one of {', '.join(allowed)}. Received: {settings[key]!r}")
    for key in ("epochs", "batch_size", "num_masks", "monitor_every"):
        if int(settings[key]) < 1:
            raise ValueError(f"--{key} must be >= 1. Received: {settings[key]!r}")
    if settings["color_jitter"] is not None:
        parse_color_jitter(settings["color_jitter"])
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


def augmentation_config(dataset, image_size, color_jitter=None):
    """The augmentation preset of a dataset, at the size of its images.

    Named datasets use their preset (statistics from the paper's code); the
    synthetic shapes use theirs; folders and other sources use ImageNet
    statistics. `color_jitter` (`"b,c,s,h"`) overrides the preset's colour
    jitter strengths.
    """
    key = dataset.lower()
    shapes = data_lib.synthetic_shapes_options(dataset)
    if shapes is not None:
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
}


def build_model(settings, image_shape, num_classes, total_steps=None):
    """The ADIOS model (encoder, masker, objective) for these settings."""
    widths = tuple(int(w) for w in str(settings["encoder_widths"]).split(","))
    if settings["encoder"] == "small_resnet":
        encoder = encoders.SmallResNet(input_shape=image_shape, widths=widths)
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
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "flags.json"), "w") as f:
        json.dump(settings, f, indent=2, sort_keys=True)
    keras.utils.set_random_seed(settings["seed"])
    start = time.time()

    train_source = load_split(settings, settings["train_split"], settings["num_train_images"])
    eval_source = load_split(settings, settings["eval_split"], settings["num_eval_images"])
    train_images, train_labels = _as_arrays(train_source)
    eval_images, eval_labels = _as_arrays(eval_source)
    config = augmentation_config(
        settings["dataset"],
        int(settings["crop_size"] or train_images.shape[1]),
        color_jitter=settings["color_jitter"],
    )
    num_classes = int(max(train_labels.max(), eval_labels.max())) + 1 if train_labels is not None else None

    batch_size = min(settings["batch_size"], len(train_images))
    train_ds = data_lib.make_pretrain_dataset(
        train_images, train_labels, config=config, batch_size=batch_size, seed=settings["seed"]
    )
    steps_per_epoch = settings["steps_per_epoch"] or len(train_images) // batch_size

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
        len(train_images), len(eval_images), steps_per_epoch, keras.backend.backend(),
    )

    eval_batches = data_lib.make_eval_dataset(eval_images, eval_labels, config=config, batch_size=256)
    vis_images = np.stack([x for x, _ in eval_batches.unbatch().take(settings["num_vis_images"]).as_numpy_iterator()])
    resumed = os.path.isdir(os.path.join(run_dir, "backup"))
    callbacks = [
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
                denormalize=lambda x: data_lib.denormalize(x, config),
                tensorboard_dir=os.path.join(run_dir, "tensorboard"),
            ),
        )
    shapes = data_lib.synthetic_shapes_options(settings["dataset"])
    if model.masker is not None and shapes is not None:
        truth = data_lib.load_synthetic_shapes(
            settings["eval_split"], num_images=min(len(eval_images), 500),
            image_size=config.image_size, seed=settings["seed"], background=shapes["background"],
        )
        callbacks.insert(1, MaskQualityMonitor(
            np.asarray(data_lib.normalize(truth["images"].astype("float32") / 255.0, config)),
            foreground=truth["foreground"], parts=truth["parts"],
            every_n_epochs=settings["monitor_every"],
        ))
    if train_labels is not None:
        knn_train = data_lib.make_eval_dataset(
            train_images[:2000], train_labels[:2000], config=config, batch_size=256
        )
        callbacks.insert(1, KNNMonitor(
            knn_train, eval_batches, k=settings["knn_k"], temperature=settings["knn_temperature"],
            every_n_epochs=settings["monitor_every"], probe_epochs=settings["monitor_probe_epochs"],
        ))

    model.fit(
        train_ds,
        epochs=settings["epochs"],
        steps_per_epoch=settings["steps_per_epoch"],
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the tf.data pipeline shuffles, seeded
    )
    train_seconds = time.time() - start
    model.save(os.path.join(run_dir, "adios.keras"))
    model.encoder.save(os.path.join(run_dir, "encoder.keras"))
    if model.masker is not None:
        _save_layer(model.masker, (config.image_size, config.image_size, 3), os.path.join(run_dir, "masker.keras"))

    results = evaluate_model(model, settings, config, (train_images, train_labels), (eval_images, eval_labels))
    results["train_seconds"] = round(train_seconds, 1)
    results["total_seconds"] = round(time.time() - start, 1)
    results["backend"] = keras.backend.backend()
    with open(os.path.join(run_dir, "evaluation.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    return results


def evaluate_model(model, settings, config, train_data, eval_data, verbose=0):
    """Linear probe, kNN, clustering, and (synthetic data) mask and background scores."""
    train_images, train_labels = train_data
    eval_images, eval_labels = eval_data
    results = {}
    if train_labels is None:
        return results
    train_ds = data_lib.make_eval_dataset(train_images, train_labels, config=config, batch_size=256)
    eval_ds = data_lib.make_eval_dataset(eval_images, eval_labels, config=config, batch_size=256)
    train_features, train_y = evaluation.extract_features(model.encoder, train_ds)
    eval_features, eval_y = evaluation.extract_features(model.encoder, eval_ds)
    probe, classifier = evaluation.linear_probe(
        train_features, train_y, eval_features, eval_y,
        epochs=settings["probe_epochs"], seed=settings["seed"], return_classifier=True,
    )
    results["linear_probe_accuracy"] = float(probe["test_accuracy"])
    results["knn_accuracy"] = float(
        evaluation.knn_accuracy(
            train_features, train_y, eval_features, eval_y,
            k=settings["knn_k"], temperature=settings["knn_temperature"],
        )
    )
    # Reference: the same probes on a freshly initialised copy of the encoder,
    # i.e. what random features already give on this data.
    untrained = keras.models.clone_model(model.encoder)
    ref_train, _ = evaluation.extract_features(untrained, train_ds)
    ref_eval, _ = evaluation.extract_features(untrained, eval_ds)
    results["untrained_linear_probe_accuracy"] = float(
        evaluation.linear_probe(
            ref_train, train_y, ref_eval, eval_y,
            epochs=settings["probe_epochs"], seed=settings["seed"],
        )["test_accuracy"]
    )
    results["untrained_knn_accuracy"] = float(
        evaluation.knn_accuracy(
            ref_train, train_y, ref_eval, eval_y,
            k=settings["knn_k"], temperature=settings["knn_temperature"],
        )
    )
    clustering = evaluation.kmeans_clustering_scores(eval_features, eval_y, seed=settings["seed"])
    results["kmeans_nmi"] = float(clustering["nmi"])
    results["kmeans_ari"] = float(clustering["ari"])
    results["chance_accuracy"] = float(1.0 / len(np.unique(train_y)))
    shapes = data_lib.synthetic_shapes_options(settings["dataset"])
    if shapes is not None:
        ground_truth = data_lib.load_synthetic_shapes(
            settings["eval_split"], num_images=len(eval_images),
            image_size=int(eval_images.shape[1]), seed=settings["seed"],
            background=shapes["background"],
        )
        if model.masker is not None:
            normalized = data_lib.normalize(ground_truth["images"].astype("float32") / 255.0, config)
            scores = evaluation.evaluate_masks(
                model.masker, np.asarray(normalized), foreground=ground_truth["foreground"],
                parts=ground_truth["parts"],
            )
            results.update({f"mask_{k}": float(v) for k, v in scores.items()})
        variants = data_lib.background_variants(ground_truth, seed=settings["seed"])
        variant_data = {
            name: data_lib.make_eval_dataset(images, ground_truth["labels"], config=config, batch_size=256)
            for name, images in variants.items()
        }
        if classifier is not None:
            robustness = evaluation.background_robustness(model.encoder, classifier, variant_data)
            results.update({f"background_{k}_accuracy": float(v) for k, v in robustness.items()})
    return results


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


def _as_arrays(source):
    if isinstance(source, tuple):
        return np.asarray(source[0]), (None if source[1] is None else np.asarray(source[1]))
    images, labels = [], []
    for element in source.as_numpy_iterator():
        image, label = element if isinstance(element, tuple) else (element, None)
        images.append(image)
        labels.append(label)
    images = np.stack(images)
    labels = None if labels[0] is None else np.asarray(labels)
    return images, labels


def _save_layer(layer, image_shape, path):
    inputs = keras.Input(image_shape)
    keras.Model(inputs, layer(inputs), name="masker").save(path)


def _jit_flag(value):
    if isinstance(value, bool) or value == "auto":
        return value
    return str(value).lower() in ("1", "true", "yes")
