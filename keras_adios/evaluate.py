"""Re-run the evaluation of a saved ADIOS run.

    python -m keras_adios.evaluate --run_dir=runs/adios

Loads `run_dir/adios.keras` and the settings in `run_dir/flags.json`, then
computes the linear probe, kNN (k and temperature fixed, not tuned on the
test set), k-means NMI/ARI, and on the built-in dataset the mask IoU/ARI
against ground truth and the accuracy on each background variant. Writes
`run_dir/evaluation.json` (or `--output`) and prints it.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

_RUN_DIR = flags.DEFINE_string("run_dir", None, "A folder written by keras_adios.train.")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the results (default run_dir/evaluation.json).")
_PROBE_EPOCHS = flags.DEFINE_integer("probe_epochs", None, "Override the linear probe epochs.", lower_bound=1)
_KNN_K = flags.DEFINE_integer("knn_k", None, "Override the kNN k.", lower_bound=1)
flags.mark_flag_as_required("run_dir")


def evaluate_run(run_dir, overrides=None):
    """Evaluates the run in `run_dir`; returns the results dict."""
    import keras

    from keras_adios import experiment

    flags_path = os.path.join(run_dir, "flags.json")
    model_path = os.path.join(run_dir, "adios.keras")
    for path in (flags_path, model_path):
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} not found: --run_dir must be a finished keras_adios.train run folder."
            )
    with open(flags_path) as f:
        settings = experiment.resolve_settings(json.load(f))
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    model = keras.models.load_model(model_path)
    train, held_out = experiment.load_splits(settings)
    config = experiment.run_augmentation(settings, experiment.image_size(settings, train))
    return experiment.evaluate_model(model, settings, config, train, held_out)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags are written --name=value")
    try:
        results = evaluate_run(
            _RUN_DIR.value, {"probe_epochs": _PROBE_EPOCHS.value, "knn_k": _KNN_K.value}
        )
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        sys.exit(f"error: {str(e).strip() or type(e).__name__}")
    output = _OUTPUT.value or os.path.join(_RUN_DIR.value, "evaluation.json")
    previous = {}
    if os.path.exists(output):
        with open(output) as f:
            previous = json.load(f)
    previous.update(results)
    with open(output, "w") as f:
        json.dump(previous, f, indent=2, sort_keys=True)
    print(json.dumps(results, indent=2, sort_keys=True))


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
