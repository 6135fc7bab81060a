r"""Pretrain ADIOS with one of the paper's recipes.

```shell
python examples/pretrain_recipe.py --list
python examples/pretrain_recipe.py --recipe=stl10_simclr --data_dir=~/tensorflow_datasets
python examples/pretrain_recipe.py --recipe=imagenet100s_byol --manual_dir=/data/imagenet100
python examples/pretrain_recipe.py --recipe=cifar10_simsiam --epochs=100 --batch_size=512
python examples/pretrain_recipe.py --recipe=stl10_byol --smoke   # seconds, synthetic data
```

Each recipe (`examples/recipes.py`) holds the authors' hyperparameters of one
training script (epochs, batch, lr, mask_lr, weight decay, N, mask filters and
norm, alpha_sparsity, alpha_entropy, temperature, head sizes, colour jitter,
SimSiam switches, LARS + warmup-cosine); the CIFAR recipes are our own choice.
The run is `keras_adios.experiment.train` through the training CLI
(`python -m keras_adios.train`), so every flag of that CLI works here too and
overrides the recipe (`--helpfull` lists them), the run folder is the same
(`encoder.keras`, `masker.keras`, mask grids, metrics, `evaluation.json`), and
an interrupted run resumes from the same `--output_dir` (default
`runs/<recipe>`).

Data: STL10 and CIFAR from tensorflow-datasets (`--data_dir`, `--download` to
fetch them), ImageNet-100(-S) from an image folder
`ROOT/{train,val}/<class>/<images>` given by `--manual_dir=ROOT`.

`--smoke` keeps the recipe's method settings (objective, masking, N, mask
norm, sparsity and entropy weights, optimizer, learning rates, SimSiam
switches) but trains a tiny encoder for one epoch on 64 synthetic 32-px images.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from keras_adios import experiment  # noqa: E402
from keras_adios import train as train_cli  # noqa: E402  (defines every experiment flag)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recipes  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", None, "Recipe name; --list shows them.")
flags.DEFINE_bool("list", False, "Print the recipes and exit.")
flags.DEFINE_bool("smoke", False, "Tiny run on synthetic data (seconds).")

#: What `--smoke` changes: data, encoder and head sizes, and length only.
SMOKE = {
    "dataset": "shapes32", "train_split": "train", "eval_split": "test",
    "num_train_images": 64, "num_eval_images": 64, "load_size": None, "crop_size": None,
    "encoder": "small_resnet", "encoder_widths": "8,16", "mask_filters": 8,
    "hidden_dim": 32, "projection_dim": 16, "predictor_hidden_dim": 32,
    "epochs": 1, "batch_size": 16, "warmup_epochs": 0, "probe_epochs": 2, "num_vis_images": 4,
}


def recipe_settings(name, smoke=False, overrides=None):
    """The experiment settings of `name`, with the smoke changes and then `overrides`."""
    settings = recipes.settings(name)
    if smoke:
        settings.update(SMOKE)
    settings.update(overrides or {})
    return experiment.resolve_settings(settings)


def _print_recipes():
    for name in recipes.RECIPES:
        r = recipes.row(name)
        note = "  (our choice)" if name in recipes.OWN_CHOICE else ""
        print(
            f"{name:24s} {r['objective']:8s} {r['masking']:8s} ep {r['epochs']:3d} "
            f"bs {r['batch_size']:3d} lr {r['learning_rate']:<7g} mask_lr "
            f"{r['mask_learning_rate']:<7g} N {r['num_masks']}{note}"
        )


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags are written --name=value")
    if FLAGS.list:
        _print_recipes()
        return
    if FLAGS.recipe not in recipes.RECIPES:
        sys.exit(
            f"error: unknown --recipe={FLAGS.recipe!r}; available: {', '.join(recipes.RECIPES)}"
        )
    try:
        settings = recipe_settings(
            FLAGS.recipe, smoke=FLAGS.smoke, overrides=train_cli.flag_settings(only_present=True)
        )
    except ValueError as e:
        sys.exit(f"error: {str(e).strip().splitlines()[0]}")
    logging.info("Recipe %s: %s", FLAGS.recipe, settings)
    train_cli.train_and_report(settings)


if __name__ == "__main__":
    app.run(main)
