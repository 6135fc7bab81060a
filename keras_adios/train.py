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
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402

from keras_adios import experiment  # noqa: E402
from keras_adios import experiment_settings  # noqa: E402

_F = experiment_settings.define_flags()


def flag_settings(only_present=False):
    """The experiment settings given by the flags.

    Args:
        only_present: bool. Only the flags given on the command line (e.g. to
            override another source of settings, as `examples/pretrain_recipe.py`
            does).
    """
    return {name: holder.value for name, holder in _F.items() if holder.present or not only_present}


def train_and_report(settings):
    """`experiment.train(settings)`; a bad setting, missing data or a NaN ends in `error: <whole message>`.

    An interrupt (Ctrl-C or SIGTERM) ends in one line saying how to resume.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        results = experiment.train(settings)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        message = str(e).strip() or type(e).__name__
        sys.exit(f"error: {message}")
    except KeyboardInterrupt:
        sys.exit(
            f"interrupted: {settings['output_dir']} keeps the state of the last finished epoch; "
            "rerun the same command to resume from it."
        )
    print(json.dumps(results, indent=2, sort_keys=True))
    print(
        f"Linear probe accuracy {results.get('linear_probe_accuracy', float('nan')):.3f}, "
        f"kNN accuracy {results.get('knn_accuracy', float('nan')):.3f} "
        f"(chance {results.get('chance_accuracy', float('nan')):.3f}). "
        f"Run folder: {settings['output_dir']}"
    )
    return results


def _interrupt(signum, frame):
    del signum, frame
    raise KeyboardInterrupt


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags are written --name=value")
    train_and_report(flag_settings())


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
