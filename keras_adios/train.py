"""Train ADIOS from the command line.

    python -m keras_adios.train --dataset=shapes32 --objective=simclr --masking=adios \\
        --epochs=6 --output_dir=runs/adios

Trains with a progress bar, writes the run folder described in
`keras_adios.experiment` (encoder and masker `.keras` files, mask grids per
epoch, metrics JSON/CSV, TensorBoard logs, the flags used), resumes from the
same `--output_dir` after an interruption (`keras.callbacks.BackupAndRestore`),
and ends with the linear-probe and kNN accuracy. `--help` lists every flag.
Pick the backend with `KERAS_BACKEND=tensorflow|jax|torch` (TensorFlow, without
XLA, is the fastest on CPU).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from keras_adios import experiment  # noqa: E402

D = experiment.DEFAULTS
_F = {}


def _define_flags():
    f = flags
    _F["dataset"] = f.DEFINE_string(
        "dataset", D["dataset"],
        "Data source: shapes32 / shapes64 (built-in synthetic shapes with ground-truth "
        "masks), a tensorflow-datasets name (cifar10, cifar100, stl10, imagenette), "
        "folder:PATH (PATH/<split>/<class>/*.png), or npz:PATH.")
    _F["data_dir"] = f.DEFINE_string("data_dir", D["data_dir"], "tensorflow-datasets data_dir.")
    _F["manual_dir"] = f.DEFINE_string("manual_dir", D["manual_dir"], "tensorflow-datasets manual_dir.")
    _F["download"] = f.DEFINE_boolean("download", D["download"], "Allow tensorflow-datasets to download.")
    _F["train_split"] = f.DEFINE_string("train_split", D["train_split"], "Pretraining split (e.g. train+unlabelled for stl10).")
    _F["eval_split"] = f.DEFINE_string("eval_split", D["eval_split"], "Evaluation split.")
    _F["num_train_images"] = f.DEFINE_integer("num_train_images", D["num_train_images"], "Synthetic dataset: training images.", lower_bound=1)
    _F["num_eval_images"] = f.DEFINE_integer("num_eval_images", D["num_eval_images"], "Synthetic dataset: evaluation images.", lower_bound=1)
    _F["load_size"] = f.DEFINE_integer(
        "load_size", D["load_size"],
        "Image folders / ImageNet-100 / synthetic shapes: resize (short side) and centre-crop "
        "to this size when loading (None: as stored). Ignored by CIFAR/STL10.", lower_bound=1)
    _F["crop_size"] = f.DEFINE_integer("crop_size", D["crop_size"], "Size of the augmented views (None: the loaded images' size).", lower_bound=1)
    _F["color_jitter"] = f.DEFINE_string(
        "color_jitter", D["color_jitter"],
        "Colour jitter brightness,contrast,saturation,hue (e.g. 0.4,0.4,0.2,0.1); None: the dataset preset's.")
    _F["objective"] = f.DEFINE_enum("objective", D["objective"], list(experiment.OBJECTIVES), "SSL objective.")
    _F["masking"] = f.DEFINE_enum(
        "masking", D["masking"], list(experiment.MASKINGS),
        "adios: learned masks, all N per step; adios_s: one sampled mask per image; "
        "none: the plain SSL baseline; random: MAE-style random patches; block: BEiT-style blocks.")
    _F["encoder"] = f.DEFINE_enum("encoder", D["encoder"], list(experiment.ENCODERS), "Image encoder.")
    _F["encoder_widths"] = f.DEFINE_string("encoder_widths", D["encoder_widths"], "small_resnet stage widths, comma separated.")
    _F["num_masks"] = f.DEFINE_integer("num_masks", D["num_masks"], "Number of masks N.", lower_bound=1)
    _F["mask_filters"] = f.DEFINE_integer("mask_filters", D["mask_filters"], "Mask generator base filters (multiple of 8 with group norm).", lower_bound=1)
    _F["mask_norm"] = f.DEFINE_enum("mask_norm", D["mask_norm"], ["group", "instance", "none"], "Mask generator normalisation.")
    _F["mask_blocks"] = f.DEFINE_integer("mask_blocks", D["mask_blocks"], "Mask generator UNet blocks (None: log2(image size) - 1).", lower_bound=1)
    _F["mask_ratio"] = f.DEFINE_float("mask_ratio", D["mask_ratio"], "random/block masking: fraction occluded (0.75 / 0.3 by default).")
    _F["sparsity_weight"] = f.DEFINE_float("sparsity_weight", D["sparsity_weight"], "alpha_sparsity.", lower_bound=0.0)
    _F["entropy_weight"] = f.DEFINE_float("entropy_weight", D["entropy_weight"], "alpha_entropy.", lower_bound=0.0)
    _F["temperature"] = f.DEFINE_float("temperature", D["temperature"], "SimCLR temperature.", lower_bound=1e-6)
    _F["projection_dim"] = f.DEFINE_integer("projection_dim", D["projection_dim"], "Projector output size.", lower_bound=1)
    _F["hidden_dim"] = f.DEFINE_integer("hidden_dim", D["hidden_dim"], "Projector hidden size.", lower_bound=1)
    _F["predictor_hidden_dim"] = f.DEFINE_integer("predictor_hidden_dim", D["predictor_hidden_dim"], "BYOL/SimSiam predictor hidden size.", lower_bound=1)
    _F["simsiam_symmetry_mask"] = f.DEFINE_boolean("simsiam_symmetry_mask", D["simsiam_symmetry_mask"], "SimSiam: add the D(p2, z1m) + D(p1, z2m) terms.")
    _F["simsiam_no_mask"] = f.DEFINE_boolean("simsiam_no_mask", D["simsiam_no_mask"], "SimSiam: add the unmasked D(p1, z2) + D(p2, z1) terms.")
    _F["simsiam_both_mask"] = f.DEFINE_boolean("simsiam_both_mask", D["simsiam_both_mask"], "SimSiam: add the both-masked D(p1m, z2m) + D(p2m, z1m) terms.")
    _F["epochs"] = f.DEFINE_integer("epochs", D["epochs"], "Training epochs.", lower_bound=1)
    _F["batch_size"] = f.DEFINE_integer("batch_size", D["batch_size"], "Batch size.", lower_bound=2)
    _F["steps_per_epoch"] = f.DEFINE_integer("steps_per_epoch", D["steps_per_epoch"], "Limit the steps per epoch.", lower_bound=1)
    _F["optimizer"] = f.DEFINE_enum("optimizer", D["optimizer"], list(experiment.OPTIMIZERS), "Optimizer of encoder and masker (the paper: lars).")
    _F["learning_rate"] = f.DEFINE_float("learning_rate", D["learning_rate"], "Encoder peak learning rate.", lower_bound=0.0)
    _F["mask_learning_rate"] = f.DEFINE_float("mask_learning_rate", D["mask_learning_rate"], "Masker peak learning rate.", lower_bound=0.0)
    _F["probe_learning_rate"] = f.DEFINE_float("probe_learning_rate", D["probe_learning_rate"], "Online probe learning rate (Adam).", lower_bound=0.0)
    _F["weight_decay"] = f.DEFINE_float("weight_decay", D["weight_decay"], "Weight decay.", lower_bound=0.0)
    _F["warmup_epochs"] = f.DEFINE_integer("warmup_epochs", D["warmup_epochs"], "Linear warmup epochs.", lower_bound=0)
    _F["warmup_learning_rate"] = f.DEFINE_float("warmup_learning_rate", D["warmup_learning_rate"], "Learning rate at the start of the warmup (None: 3 % of the peak).", lower_bound=0.0)
    _F["jit_compile"] = f.DEFINE_enum("jit_compile", D["jit_compile"], ["auto", "true", "false"], "XLA/jit compilation.")
    _F["seed"] = f.DEFINE_integer("seed", D["seed"], "Random seed.", lower_bound=0)
    _F["knn_k"] = f.DEFINE_integer("knn_k", D["knn_k"], "kNN neighbours.", lower_bound=1)
    _F["knn_temperature"] = f.DEFINE_float("knn_temperature", D["knn_temperature"], "kNN temperature.", lower_bound=1e-6)
    _F["probe_epochs"] = f.DEFINE_integer("probe_epochs", D["probe_epochs"], "Linear probe epochs (on frozen features).", lower_bound=1)
    _F["num_vis_images"] = f.DEFINE_integer("num_vis_images", D["num_vis_images"], "Images in the mask grids.", lower_bound=1)
    _F["monitor_every"] = f.DEFINE_integer("monitor_every", D["monitor_every"], "Epochs between kNN (and mask-quality) evaluations during training.", lower_bound=1)
    _F["monitor_probe_epochs"] = f.DEFINE_integer(
        "monitor_probe_epochs", D["monitor_probe_epochs"],
        "Also train a linear probe with this many epochs at every monitoring point (None: kNN only).", lower_bound=1)
    _F["output_dir"] = f.DEFINE_string("output_dir", D["output_dir"], "Run folder (re-running with the same folder resumes).")


_define_flags()


def flag_settings(only_present=False):
    """The experiment settings given by the flags.

    Args:
        only_present: bool. Only the flags given on the command line (e.g. to
            override another source of settings, as `examples/pretrain_recipe.py`
            does).
    """
    return {name: holder.value for name, holder in _F.items() if holder.present or not only_present}


def train_and_report(settings):
    """`experiment.train(settings)`, ending in one `error: ...` line on a bad setting or missing data."""
    try:
        results = experiment.train(settings)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        sys.exit(f"error: {first}")
    print(json.dumps(results, indent=2, sort_keys=True))
    print(
        f"Linear probe accuracy {results.get('linear_probe_accuracy', float('nan')):.3f}, "
        f"kNN accuracy {results.get('knn_accuracy', float('nan')):.3f} "
        f"(chance {results.get('chance_accuracy', float('nan')):.3f}). "
        f"Run folder: {settings['output_dir']}"
    )
    return results


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags are written --name=value")
    train_and_report(flag_settings())


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
