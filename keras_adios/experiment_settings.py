"""Every setting of an experiment, declared once.

`SETTINGS` is the one table: each `Setting` has its name, default, kind,
help text and allowed values. The command-line flags (`keras_adios.train`),
the defaults (`DEFAULTS`), the validation (`resolve_settings`) and the
`flags.json` of a run folder all come from it, so adding a setting is one row
here (plus its use in `keras_adios/experiment.py`).
"""

from typing import Any
from typing import NamedTuple


class Setting(NamedTuple):
    """One experiment setting (a row of `SETTINGS`).

    Attributes:
        name: the setting's key and flag name (`--name`).
        default: the default value (None: unset).
        kind: "string", "integer", "float", "boolean" or "enum".
        help: the flag's help text.
        choices: the allowed values of an "enum".
        minimum: the smallest allowed value of an "integer" or "float".
    """

    name: str
    default: Any
    kind: str
    help: str
    choices: tuple = None
    minimum: float = None


SETTINGS = (
    Setting('dataset', 'shapes32', 'string', 'Data source: shapes32 / shapes64 (built-in synthetic shapes with ground-truth masks; shapes32_shortcut / shapes64_shortcut: with coloured, textured backgrounds that are a shortcut), a tensorflow-datasets name (cifar10, cifar100, stl10, imagenette), folder:PATH (PATH/<split>/<class>/*.png), or npz:PATH.'),
    Setting('data_dir', None, 'string', 'tensorflow-datasets data_dir.'),
    Setting('manual_dir', None, 'string', 'tensorflow-datasets manual_dir.'),
    Setting('download', False, 'boolean', 'Allow tensorflow-datasets to download.'),
    Setting('train_split', 'train', 'string', 'Pretraining split (e.g. train+unlabelled for stl10).'),
    Setting('holdout_fraction', 0.1, 'float', 'Image folders without split sub-folders: the seeded fraction of images held out for evaluation.', minimum=0.0),
    Setting('eval_split', 'test', 'string', 'Evaluation split.'),
    Setting('num_train_images', 2000, 'integer', 'Synthetic dataset: training images.', minimum=1),
    Setting('num_eval_images', 1000, 'integer', 'Synthetic dataset: evaluation images.', minimum=1),
    Setting('load_size', None, 'integer', 'Image folders / ImageNet-100 / synthetic shapes: resize (short side) and centre-crop to this size when loading (None: as stored). Ignored by CIFAR/STL10.', minimum=1),
    Setting('crop_size', None, 'integer', "Size of the augmented views (None: the loaded images' size).", minimum=1),
    Setting('augmentation', None, 'string', "Augmentation preset (cifar10, cifar10_solo_learn, stl10, imagenet100, imagenet100s, shapes32, ...; None: the dataset's own, ImageNet's for folders). cifar10_solo_learn is solo-learn's CIFAR recipe (jitter 0.4,0.4,0.2,0.1, no blur), e.g. for a CIFAR-10 image folder."),
    Setting('color_jitter', None, 'string', "Colour jitter brightness,contrast,saturation,hue (e.g. 0.4,0.4,0.2,0.1); None: the dataset preset's."),
    Setting('objective', 'simclr', 'enum', 'SSL objective.', choices=('simclr', 'byol', 'simsiam', 'vicreg')),
    Setting('masking', 'adios', 'enum', 'adios: learned masks, all N per step; adios_s: one sampled mask per image; none: the plain SSL baseline; random: MAE-style random patches; block: BEiT-style blocks.', choices=('adios', 'adios_s', 'none', 'random', 'block')),
    Setting('encoder', 'small_resnet', 'enum', 'Image encoder (vit_tiny: ViT-Tiny, patch --patch_size).', choices=('small_resnet', 'resnet18_cifar', 'resnet18_imagenet', 'vit_tiny')),
    Setting('patch_size', 16, 'integer', 'vit_tiny: patch size (the crop size must be a multiple of it).', minimum=1),
    Setting('encoder_widths', '16,32,64', 'string', 'small_resnet stage widths, comma separated.'),
    Setting('num_masks', 4, 'integer', 'Number of masks N.', minimum=1),
    Setting('mask_filters', 16, 'integer', 'Mask generator base filters (multiple of 8 with group norm).', minimum=1),
    Setting('mask_norm', 'group', 'enum', 'Mask generator normalisation.', choices=('group', 'instance', 'none')),
    Setting('mask_blocks', None, 'integer', 'Mask generator UNet blocks (None: log2(image size) - 1).', minimum=1),
    Setting('mask_ratio', None, 'float', 'random/block masking: fraction occluded (0.75 / 0.3 by default).'),
    Setting('sparsity_weight', 1.0, 'float', 'alpha_sparsity.', minimum=0.0),
    Setting('entropy_weight', 0.0, 'float', 'alpha_entropy.', minimum=0.0),
    Setting('temperature', 0.2, 'float', 'SimCLR temperature.', minimum=1e-06),
    Setting('projection_dim', 128, 'integer', 'Projector output size.', minimum=1),
    Setting('hidden_dim', 512, 'integer', 'Projector hidden size.', minimum=1),
    Setting('predictor_hidden_dim', 512, 'integer', 'BYOL/SimSiam predictor hidden size.', minimum=1),
    Setting('simsiam_symmetry_mask', True, 'boolean', 'SimSiam: add the D(p2, z1m) + D(p1, z2m) terms.'),
    Setting('simsiam_no_mask', True, 'boolean', 'SimSiam: add the unmasked D(p1, z2) + D(p2, z1) terms.'),
    Setting('simsiam_both_mask', True, 'boolean', 'SimSiam: add the both-masked D(p1m, z2m) + D(p2m, z1m) terms.'),
    Setting('epochs', 5, 'integer', 'Training epochs.', minimum=1),
    Setting('batch_size', 128, 'integer', 'Batch size.', minimum=2),
    Setting('steps_per_epoch', None, 'integer', 'Limit the steps per epoch.', minimum=1),
    Setting('shuffle_buffer', 10000, 'integer', 'Streamed sources (image folders, tensorflow-datasets): the pretraining shuffle buffer in decoded images, which bounds the input pipeline memory (in-memory arrays are shuffled exactly, without a buffer).', minimum=1),
    Setting('optimizer', 'adam', 'enum', 'Optimizer of encoder and masker (the paper: lars).', choices=('adam', 'sgd', 'lars')),
    Setting('learning_rate', 0.002, 'float', 'Encoder peak learning rate.', minimum=0.0),
    Setting('mask_learning_rate', 0.01, 'float', 'Masker peak learning rate.', minimum=0.0),
    Setting('probe_learning_rate', 0.001, 'float', 'Online probe learning rate (Adam).', minimum=0.0),
    Setting('weight_decay', 1e-05, 'float', 'Weight decay.', minimum=0.0),
    Setting('warmup_epochs', 1, 'integer', 'Linear warmup epochs.', minimum=0),
    Setting('warmup_learning_rate', None, 'float', 'Learning rate at the start of the warmup (None: 3 % of the peak).', minimum=0.0),
    Setting('jit_compile', 'auto', 'enum', 'XLA/jit compilation.', choices=('auto', 'true', 'false')),
    Setting('dtype_policy', 'float32', 'enum', 'Keras dtype policy of the models: mixed_bfloat16 (TPUs, GPUs from Ampere on) or mixed_float16 (GPUs; dynamic loss scaling) compute in 16 bits with float32 weights and losses; on CPUs float32 is fastest.', choices=('float32', 'mixed_bfloat16', 'mixed_float16')),
    Setting('seed', 0, 'integer', 'Random seed.', minimum=0),
    Setting('knn_k', 20, 'integer', 'kNN neighbours.', minimum=1),
    Setting('knn_temperature', 0.07, 'float', 'kNN temperature.', minimum=1e-06),
    Setting('probe_epochs', 50, 'integer', 'Linear probe epochs (on frozen features).', minimum=1),
    Setting('num_vis_images', 8, 'integer', 'Images in the mask grids.', minimum=1),
    Setting('monitor_every', 1, 'integer', 'Epochs between kNN (and mask-quality) evaluations during training.', minimum=1),
    Setting('monitor_probe_epochs', None, 'integer', 'Also train a linear probe with this many epochs at every monitoring point (None: kNN only).', minimum=1),
    Setting('output_dir', 'runs/adios', 'string', 'Run folder (re-running with the same folder resumes).'),
    Setting('per_view_backward', True, 'boolean', 'Back-propagate each masked view on its own in both phases (same gradients; the encoder phase keeps two encoder graphs alive instead of N + 1); --noper_view_backward: one backward through all views, as the authors do.'),
    Setting('skip_nonfinite', False, 'boolean', 'Skip a training step whose loss or gradients are NaN/inf (weights unchanged) instead of stopping with an error.'),
    Setting('overwrite', False, 'boolean', 'Delete an existing run folder (finished, interrupted or made with other settings) and train anew.'),
    Setting('verbose', 'auto', 'enum', 'Progress output: bar (per step), epoch (one line per epoch), none; auto: bar in a terminal, else epoch.', choices=('auto', 'bar', 'epoch', 'none')),
)

#: Defaults of every setting.
DEFAULTS = {s.name: s.default for s in SETTINGS}
#: Settings that change how a run is carried out, not what it computes (not
#: compared when an existing run folder is reused; `per_view_backward` gives
#: the same gradients either way, so a run may resume with the other value).
RUN_CONTROL = ("overwrite", "verbose", "per_view_backward")

_BY_NAME = {s.name: s for s in SETTINGS}


def choices(name):
    """The allowed values of an "enum" setting."""
    return _BY_NAME[name].choices


def resolve_settings(overrides):
    """`DEFAULTS` updated with `overrides`, every value checked against `SETTINGS`.

    Raises:
        ValueError: an unknown setting, or a value of the wrong kind or out of
            range, naming the flag, what was received and what is allowed.
    """
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"Unknown settings: {sorted(unknown)}. Allowed: {sorted(DEFAULTS)}")
    settings = dict(DEFAULTS)
    settings.update(overrides)
    for name, value in settings.items():
        settings[name] = _check(_BY_NAME[name], value)
    return settings


def _check(setting, value):
    if value is None:
        return None
    name = f"--{setting.name}"
    if setting.kind == "enum":
        if value not in setting.choices:
            raise ValueError(f"{name} must be one of {', '.join(setting.choices)}. Received: {value!r}")
        return value
    if setting.kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false. Received: {value!r}")
        return value
    if setting.kind in ("integer", "float"):
        number_type = int if setting.kind == "integer" else float
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            number_type is int and float(value) != int(value)
        ):
            raise ValueError(f"{name} must be a{'n integer' if number_type is int else ' number'}. Received: {value!r}")
        value = number_type(value)
        if setting.minimum is not None and value < setting.minimum:
            raise ValueError(f"{name} must be >= {setting.minimum}. Received: {value!r}")
        return value
    return str(value)


def define_flags(flag_values=None):
    """Defines one absl flag per setting (in `flag_values`, default `absl.flags.FLAGS`).

    Returns:
        `{name: FlagHolder}`.
    """
    from absl import flags

    target = {"flag_values": flag_values if flag_values is not None else flags.FLAGS}
    holders = {}
    for s in SETTINGS:
        if s.kind == "enum":
            holders[s.name] = flags.DEFINE_enum(s.name, s.default, list(s.choices), s.help, **target)
        elif s.kind == "boolean":
            holders[s.name] = flags.DEFINE_boolean(s.name, s.default, s.help, **target)
        elif s.kind == "integer":
            holders[s.name] = flags.DEFINE_integer(s.name, s.default, s.help, lower_bound=s.minimum, **target)
        elif s.kind == "float":
            holders[s.name] = flags.DEFINE_float(s.name, s.default, s.help, lower_bound=s.minimum, **target)
        else:
            holders[s.name] = flags.DEFINE_string(s.name, s.default, s.help, **target)
    return holders


def cli_reference():
    """`docs/cli.md`: every flag of `python -m keras_adios.train`, from `SETTINGS`.

    `python -m keras_adios.experiment_settings > docs/cli.md` writes the page;
    a test holds the committed page equal to this.
    """
    lines = [
        "# The command line: every flag",
        "",
        "`python -m keras_adios.train` (installed as `keras-adios-train`) trains and evaluates one run;",
        "`python -m keras_adios.evaluate --run_dir=RUN` re-evaluates a run folder and",
        "`python -m keras_adios.export` writes its encoder as a SavedModel. Every flag below is a row of",
        "`keras_adios/experiment_settings.py` (this page is written from it:",
        "`python -m keras_adios.experiment_settings > docs/cli.md`). A run folder's `flags.json` holds",
        "all of them; re-running with the same `--output_dir` and flags resumes an interrupted run.",
        "",
        "```shell",
        "python -m keras_adios.train --dataset=folder:/data/my_images --epochs=100 --batch_size=256 \\",
        "    --encoder=resnet18_cifar --num_masks=4 --output_dir=runs/mine",
        "```",
        "",
        "| flag | default | allowed | what |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        if s.kind == "enum":
            allowed = " / ".join(f"`{c}`" for c in s.choices)
        elif s.kind == "boolean":
            allowed = "`true` / `false`"
        else:
            allowed = s.kind + ("" if s.minimum is None else f" >= {s.minimum:g}")
        default = "None" if s.default is None else s.default
        help_text = s.help.replace("|", "\\|")
        lines.append(f"| `--{s.name}` | `{default}` | {allowed} | {help_text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(cli_reference(), end="")
