"""The paper's pretraining settings as `keras_adios.experiment` settings.

One row per recipe: the values of the authors' training scripts
(`bash_files/training/<dataset>/<resnet18|vit>/<method>.sh` of `YugeTen/adios`,
summarised in `docs/algorithm.md` §5), written with the names of
`keras_adios.experiment.DEFAULTS`. `settings(name)` adds what every script
shares (ResNet-18 unless the row says ViT-Tiny, LARS-wrapped SGD with eta 0.02 and clipping, warmup-cosine
with 10 warmup epochs from 0.003) and the dataset's data settings.

The CIFAR-10/100 recipes are **our own choice**: the authors have no CIFAR
pretraining scripts (CIFAR is only a transfer target in the paper). They use
the CIFAR ResNet-18 stem, a 4-block UNet (32 px), 4 masks and the ADIOS
argparse defaults for the masker (mask_lr 0.1, alpha_s 1), with common CIFAR
SSL learning rates; they are untuned.

Not expressible here (see the examples section of the README): the per-epoch
stepping of the schedule (ours steps per batch, same curve), BYOL's
`train_mask_epoch=10` (the encoder's cosine ending 10 epochs early) and the
SimSiam predictor's constant learning rate. The STL10 ViT-Tiny rows are not
written out (same encoder settings as the ImageNet-100-S ViT rows).
"""

# Shared by every authors' script (§3.1).
COMMON = {
    "optimizer": "lars",
    "warmup_epochs": 10,
    "warmup_learning_rate": 0.003,
    "knn_k": 20,
    "knn_temperature": 0.07,
    "probe_epochs": 100,
}

# Data settings per dataset. ImageNet-100(-S) are image folders
# (ROOT/{train,val}/<class>/, `--manual_dir=ROOT`) loaded into memory at
# `load_size` and cropped to `crop_size`.
DATASETS = {
    "imagenet100s": {
        "dataset": "imagenet100s", "train_split": "train", "eval_split": "val",
        "encoder": "resnet18_imagenet", "load_size": 128, "crop_size": 96,
    },
    "stl10": {
        "dataset": "stl10", "train_split": "train+unlabelled", "eval_split": "test",
        "encoder": "resnet18_imagenet",
    },
    "imagenet100": {
        "dataset": "imagenet100", "train_split": "train", "eval_split": "val",
        "encoder": "resnet18_imagenet", "load_size": 256, "crop_size": 224,
    },
    "cifar10": {
        "dataset": "cifar10", "train_split": "train", "eval_split": "test",
        "encoder": "resnet18_cifar",
    },
    "cifar100": {
        "dataset": "cifar100", "train_split": "train", "eval_split": "test",
        "encoder": "resnet18_cifar",
    },
}

# Columns of the §3.2 table, in this order.
COLUMNS = (
    "epochs", "batch_size", "learning_rate", "mask_learning_rate", "weight_decay",
    "num_masks", "mask_filters", "mask_norm", "sparsity_weight", "entropy_weight",
    "temperature", "heads", "color_jitter", "extra",
)

_DEFAULT_JITTER = "0.8,0.8,0.8,0.2"


def _simsiam(blocks, symmetry, no_mask, both):
    """The SimSiam columns "blocks N; sym/no/both" of the table."""
    return {
        "mask_blocks": blocks,
        "simsiam_symmetry_mask": symmetry,
        "simsiam_no_mask": no_mask,
        "simsiam_both_mask": both,
    }


#: The ViT-Tiny rows' encoder (patch 16, as the authors' timm backbone).
_VIT = {"encoder": "vit_tiny", "patch_size": 16}

# name: (dataset, objective, masking, row). `heads` is
# (hidden_dim, predictor_hidden_dim or None, projection_dim); `temperature`
# None for BYOL/SimSiam; `extra` holds the remaining per-script settings.
_TABLE = {
    # ImageNet-100-S (96 px), ResNet-18.
    "imagenet100s_simclr": ("imagenet100s", "simclr", "adios", (
        500, 128, 0.1113, 0.01452, 1e-4, 4, 32, "instance", 0.923, 0.712, 0.2,
        (2048, None, 128), _DEFAULT_JITTER, {})),
    "imagenet100s_byol": ("imagenet100s", "byol", "adios", (
        500, 128, 0.2414, 0.06599, 1e-5, 6, 16, "group", 0.404, 0.0, None,
        (4096, 8192, 256), "0.4,0.4,0.2,0.1", {})),
    "imagenet100s_simsiam": ("imagenet100s", "simsiam", "adios", (
        500, 128, 0.8471, 0.08023, 1e-5, 4, 16, "group", 0.200, 0.286, None,
        (2048, 512, 2048), "0.4,0.4,0.4,0.1",
        _simsiam(4, symmetry=False, no_mask=True, both=True))),
    # ImageNet-100-S (96 px), ViT-Tiny (patch 16: 6x6 tokens).
    "imagenet100s_vit_simclr": ("imagenet100s", "simclr", "adios", (
        300, 128, 0.1157, 0.03340, 1e-4, 6, 16, "group", 0.889, 0.0, 0.2,
        (2048, None, 128), _DEFAULT_JITTER, _VIT)),
    "imagenet100s_vit_byol": ("imagenet100s", "byol", "adios", (
        300, 128, 0.2141, 0.3264, 1e-5, 6, 8, "group", 0.952, 0.0, None,
        (4096, 8192, 256), "0.4,0.4,0.2,0.1", _VIT)),
    "imagenet100s_vit_simsiam": ("imagenet100s", "simsiam", "adios", (
        300, 128, 0.4969, 0.06656, 1e-5, 4, 16, "group", 0.722, 0.0, None,
        (2048, 512, 2048), "0.4,0.4,0.4,0.1",
        dict(_VIT, **_simsiam(4, symmetry=False, no_mask=False, both=True)))),
    # STL10 (96 px), ResNet-18.
    "stl10_simclr": ("stl10", "simclr", "adios", (
        400, 256, 0.1323, 0.01947, 8.5e-5, 6, 128, "group", 0.0, 0.0, 0.2,
        (2048, None, 256), _DEFAULT_JITTER, {})),
    "stl10_byol": ("stl10", "byol", "adios", (
        400, 128, 0.2920, 0.09281, 9.9e-6, 6, 64, "group", 1.719, 0.0, None,
        (4096, 8192, 256), _DEFAULT_JITTER, {})),
    "stl10_simsiam": ("stl10", "simsiam", "adios", (
        400, 128, 0.4436, 0.03830, 7.2e-6, 6, 32, "group", 1.0, 0.0, None,
        (2048, 512, 256), "0.552,0.478,0.578,0.2",
        _simsiam(5, symmetry=False, no_mask=True, both=False))),
    # ImageNet-100 (224 px), ResNet-18, ADIOS-s.
    "imagenet100_simclr_s": ("imagenet100", "simclr", "adios_s", (
        400, 128, 0.1896, 0.4988, 1e-4, 4, 8, "group", 0.75, 0.0, 0.2,
        (2048, None, 128), "0.7,0.6,0.8,0.15", {})),
    "imagenet100_byol_s": ("imagenet100", "byol", "adios_s", (
        400, 128, 0.8088, 0.1295, 1e-5, 6, 32, "group", 1.0, 0.0, None,
        (4096, 8192, 256), "0.5,0.2,0.25,0.05", {})),
    "imagenet100_simsiam_s": ("imagenet100", "simsiam", "adios_s", (
        400, 128, 0.5425, 0.4846, 1e-5, 4, 32, "group", 0.5, 0.0, None,
        (2048, 512, 2048), "0.4,0.4,0.4,0.1",
        _simsiam(4, symmetry=True, no_mask=True, both=True))),
}

# CIFAR-10/100 (32 px): our own choice (see the module docstring).
_CIFAR = {
    "simclr": (500, 256, 0.4, 0.1, 1e-5, 4, 32, "group", 1.0, 0.0, 0.2,
               (2048, None, 256), _DEFAULT_JITTER, {}),
    "byol": (500, 256, 1.0, 0.1, 1e-5, 4, 32, "group", 1.0, 0.0, None,
             (4096, 4096, 256), "0.4,0.4,0.2,0.1", {}),
    "simsiam": (500, 256, 0.5, 0.1, 1e-5, 4, 32, "group", 1.0, 0.0, None,
                (2048, 512, 2048), "0.4,0.4,0.4,0.1", {}),
}
for _dataset in ("cifar10", "cifar100"):
    for _objective, _row in _CIFAR.items():
        _TABLE[f"{_dataset}_{_objective}"] = (_dataset, _objective, "adios", _row)

#: Recipe names, in table order.
RECIPES = tuple(_TABLE)
#: Recipes whose values are ours, not the authors'.
OWN_CHOICE = tuple(name for name in RECIPES if name.startswith("cifar"))


def row(name):
    """The recipe's table row as a dict `{column: value}` (plus dataset etc.)."""
    _check_name(name)
    dataset, objective, masking, values = _TABLE[name]
    result = dict(zip(COLUMNS, values))
    result.update(dataset=dataset, objective=objective, masking=masking)
    return result


def settings(name):
    """The full `keras_adios.experiment` settings of a recipe.

    Args:
        name: one of `RECIPES`, e.g. `"stl10_simclr"`.

    Returns:
        A dict of experiment settings (only keys of
        `keras_adios.experiment.DEFAULTS`); unspecified keys keep their
        defaults when passed to `experiment.train`.

    Raises:
        ValueError: unknown recipe name (the message lists the names).
    """
    values = row(name)
    hidden, predictor_hidden, projection = values.pop("heads")
    extra = values.pop("extra")
    temperature = values.pop("temperature")
    result = dict(COMMON)
    result.update(DATASETS[values.pop("dataset")])
    result.update(values)
    result.update(hidden_dim=hidden, projection_dim=projection, output_dir=f"runs/{name}")
    if predictor_hidden is not None:
        result["predictor_hidden_dim"] = predictor_hidden
    if temperature is not None:
        result["temperature"] = temperature
    result.update(extra)
    return result


def _check_name(name):
    if name not in _TABLE:
        raise ValueError(
            f"Unknown recipe {name!r}. Available recipes: {', '.join(RECIPES)}"
        )
