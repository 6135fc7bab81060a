r"""Representation and mask quality of ADIOS against its baselines, side by side.

For every SSL objective (SimCLR, BYOL, SimSiam) and every masking scheme (none,
random patches, random blocks, ADIOS, ADIOS-s) this trains one experiment per
seed on the built-in synthetic shapes with the same data, epochs and seeds
(`keras_adios.experiment.train`, i.e. exactly what `python -m
keras_adios.train` runs), and collects its `evaluation.json`:

* linear-probe and kNN accuracy (k=20, T=0.07) on frozen features;
* mask IoU against the ground-truth foreground and ARI of the argmax mask
  assignment (foreground and parts), for every row with masks (the random
  and block maskers are scored too);
* probe accuracy on the background variants (foreground only, foreground on
  a random other background), with the probe trained on original images;
* the untrained-encoder reference (the same probes on a freshly initialised
  copy of the encoder, reported by every run).

Every (row, seed) writes one JSON file under `--work_dir/results/`; a rerun
with the same settings skips finished runs, so a killed benchmark resumes
where it stopped. Results:

* `OUTPUT_DIR/quality.md`: mean ± std over seeds per metric and row, the
  settings, date, commit and total time;
* `OUTPUT_DIR/quality.json`: every per-seed result and the summary;
* `OUTPUT_DIR/quality_accuracy.png`: probe and kNN accuracy per method
  (grouped bars with std error bars, one group per objective);
* `OUTPUT_DIR/quality_curves.png`: kNN accuracy, mask confidence and mask IoU
  against training steps (the runs' per-epoch monitors; mean and range over seeds);
* `OUTPUT_DIR/quality_masks_over_epochs.png`: the mask grids of one ADIOS run
  (`--mask_row`, first seed) at several epochs, stacked.

Usage:

```shell
nice -n 10 python benchmarks/quality.py                # the full benchmark (CPU: about an hour)
python benchmarks/quality.py --quick --output_dir=/tmp/q --work_dir=/tmp/q/runs  # smoke run
python benchmarks/quality.py --set=sparsity_weight=0.5 --maskings=adios --tag=sparsity05
```
"""

import datetime
import gc
import json
import math
import operator
import os
import shutil
import subprocess
import sys
import threading
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_adios import experiment  # noqa: E402

FLAGS = flags.FLAGS

MASKINGS = ("none", "random", "block", "adios", "adios_s")
MASKING_LABELS = {
    "none": "no masks",
    "random": "random patches",
    "block": "random blocks",
    "adios": "ADIOS",
    "adios_s": "ADIOS-s",
}
#: (evaluation.json key, column title) of the table, in order.
METRICS = (
    ("linear_probe_accuracy", "linear probe"),
    ("knn_accuracy", "kNN"),
    ("mask_confidence", "mask conf."),
    ("mask_foreground_iou", "mask IoU"),
    ("mask_foreground_ari", "ARI fg"),
    ("mask_parts_ari", "ARI parts"),
    ("background_only_fg_accuracy", "only-fg"),
    ("background_mixed_same_accuracy", "mixed-same"),
    ("background_mixed_rand_accuracy", "mixed-rand"),
    ("occlusion_cutout_16_accuracy", "cutout 16"),
    ("occlusion_cutout_8_accuracy", "cutout 8"),
    ("occlusion_learned_mask_accuracy", "learned mask"),
)
# Occlusion robustness (natural images): random square cutouts of these sides.
OCCLUSION_CUTOUTS = (16, 8)
UNTRAINED = "untrained encoder"
UNTRAINED_MASKER = "untrained mask generator"
MASK_METRICS = ("mask_confidence", "mask_foreground_iou", "mask_foreground_ari", "mask_parts_ari")
QUICK = {
    "objectives": ["simclr"],
    "maskings": ["none", "adios"],
    "seeds": [0],
    "settings": {
        "num_train_images": 128,
        "num_eval_images": 128,
        "epochs": 1,
        "batch_size": 64,
        "probe_epochs": 5,
        "num_vis_images": 2,
    },
}


def define_flags():
    """The command-line flags (defined only when run as a script, so that other
    benchmarks can import this module)."""
    flags.DEFINE_list("objectives", list(experiment.OBJECTIVES), "SSL objectives (rows: objective x masking).")
    flags.DEFINE_list("maskings", list(MASKINGS), "Masking schemes.")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; every row runs once per seed.")
    flags.DEFINE_integer("num_train_images", None, "Training images (default: experiment.DEFAULTS).")
    flags.DEFINE_integer("num_eval_images", None, "Evaluation images (default: experiment.DEFAULTS).")
    flags.DEFINE_integer("epochs", None, "Epochs of every run (default: experiment.DEFAULTS).")
    flags.DEFINE_integer("batch_size", None, "Batch size (default: experiment.DEFAULTS).")
    flags.DEFINE_integer("probe_epochs", None, "Linear-probe epochs (default: experiment.DEFAULTS).")
    flags.DEFINE_list("set", [], "Other experiment settings as KEY=VALUE (e.g. sparsity_weight=0.5).")
    flags.DEFINE_string("dataset", "shapes32", "Dataset (the synthetic shapes have ground-truth masks).")
    flags.DEFINE_string("mask_row", "simclr_adios", "Row whose mask grids over epochs are plotted.")
    flags.DEFINE_string("output_dir", os.path.join(ROOT, "benchmarks", "results"), "Where quality*.md/json/png go.")
    flags.DEFINE_string("work_dir", os.path.join(ROOT, "runs", "quality"), "Run folders and per-seed JSON files.")
    flags.DEFINE_string("tag", None, "Suffix of the result files (quality_TAG.md, ...), for variants.")
    flags.DEFINE_string("notes", None, "Markdown file appended to quality.md (the analysis of the results).")
    flags.DEFINE_bool("quick", False, "Tiny smoke setting: 2 SimCLR rows, 128 images, 1 epoch, 1 seed.")


def row_name(objective, masking):
    return f"{objective}_{masking}"


def parse_set(items):
    """`["key=value", ...]` -> dict, values parsed as JSON where possible."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in experiment.DEFAULTS:
            raise ValueError(
                f"--set takes KEY=VALUE with KEY an experiment setting "
                f"({', '.join(sorted(experiment.DEFAULTS))}). Received: {item!r}"
            )
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def plan(objectives, maskings, seeds, base_settings, work_dir):
    """The (row, seed, settings, result path) of every run, in run order.

    Seeds are the outer loop, so a partial benchmark has whole seeds.
    """
    for name in objectives:
        if name not in experiment.OBJECTIVES:
            raise ValueError(f"Unknown objective {name!r}. Allowed: {experiment.OBJECTIVES}")
    for name in maskings:
        if name not in MASKINGS:
            raise ValueError(f"Unknown masking {name!r}. Allowed: {MASKINGS}")
    runs = []
    for seed in seeds:
        for objective in objectives:
            for masking in maskings:
                row = row_name(objective, masking)
                settings = experiment.resolve_settings(
                    {
                        **base_settings,
                        "objective": objective,
                        "masking": masking,
                        "seed": int(seed),
                        "output_dir": os.path.join(work_dir, row, f"seed_{seed}"),
                    }
                )
                path = os.path.join(work_dir, "results", f"{row}__seed_{seed}.json")
                runs.append({"row": row, "objective": objective, "masking": masking,
                             "seed": int(seed), "settings": settings, "path": path})
    return runs


def load_finished(run):
    """The stored result of `run`, or None if missing or made with other settings."""
    if not os.path.exists(run["path"]):
        return None
    with open(run["path"]) as f:
        record = json.load(f)
    saved = record.get("settings") or {}
    # Settings added since the record was written count as their defaults;
    # run-control settings (verbose, overwrite) do not change results.
    from keras_adios.experiment_settings import DEFAULTS, RUN_CONTROL

    if any(saved.get(k, DEFAULTS.get(k)) != v for k, v in run["settings"].items() if k not in RUN_CONTROL) or (
        set(saved) - set(run["settings"])
    ):
        logging.warning("%s was made with other settings; running it again.", run["path"])
        return None
    return record


def execute(run, commit):
    """Trains and evaluates one (row, seed); writes and returns its record."""
    import keras

    _clear_stale_run_dir(run["settings"])
    ledger = CpuLedger(run["settings"]["output_dir"])
    try:
        results = experiment.train(run["settings"], verbose=0)
    finally:
        ledger.close()
    record = {key: run[key] for key in ("row", "objective", "masking", "seed", "settings")}
    record["results"] = results
    # CPU seconds (all threads) for training and evaluation, summed over every process that
    # worked on the run (a resumed run has several): on a shared machine a steadier measure of
    # cost than the wall clock. None where part of it is unknown (the CPU-time ratios skip it).
    record["cpu_seconds"] = ledger.total()
    record["cpu_seconds_per_process"] = list(ledger.attempts)
    record["history"] = _history(run["settings"]["output_dir"])
    record["commit"] = commit
    _write_json(record, run["path"])
    keras.backend.clear_session()
    gc.collect()
    return record


class CpuLedger:
    """The CPU seconds every process spent on one run, resumed runs included.

    A run longer than a work session is trained by several processes, each
    resuming the last one's BackupAndRestore state. Each process adds its own
    entry to `<run folder>.cpu_seconds.json` (beside the folder, which must
    hold nothing but the run) and a background thread rewrites it every
    `interval` seconds, so a killed process loses at most that much.

    Args:
        run_dir: str, the run's output folder.
        interval: float, seconds between writes.
    """

    @staticmethod
    def path_of(run_dir):
        """The ledger file of `run_dir`: beside it, never in it."""
        return run_dir.rstrip(os.sep) + ".cpu_seconds.json"

    def __init__(self, run_dir, interval=30.0):
        self.path = self.path_of(run_dir)
        self.attempts, self.complete = [], True
        if os.path.exists(self.path):
            with open(self.path) as f:
                saved = json.load(f)
            self.attempts, self.complete = list(saved["attempts"]), bool(saved["complete"])
        elif os.path.isdir(os.path.join(run_dir, "backup")):
            self.complete = False  # started before the ledger existed: its earlier CPU time is unknown
        self.attempts.append(0.0)
        self._start = time.process_time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval,), daemon=True)
        self._write()
        self._thread.start()

    def _loop(self, interval):
        while not self._stop.wait(interval):
            self._write()

    def _write(self):
        self.attempts[-1] = round(time.process_time() - self._start, 1)
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path + ".tmp", "w") as f:
            json.dump({"attempts": self.attempts, "complete": self.complete}, f)
        os.replace(self.path + ".tmp", self.path)

    def close(self):
        self._stop.set()
        self._thread.join()
        self._write()

    def total(self):
        """The CPU seconds of every process together, or None where some are unknown."""
        return round(sum(self.attempts), 1) if self.complete else None


def _history(run_dir):
    """Per-epoch training metrics of a run (its `metrics.json`), or None."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _clear_stale_run_dir(settings):
    """Removes a run folder written with other settings.

    A folder of the same run (`experiment.settings_differences` finds none:
    settings added since it was written count as their defaults, run-control
    settings never count) is kept: `experiment.train` resumes a killed run
    from its BackupAndRestore state.
    """
    run_dir = settings["output_dir"]
    flags_path = os.path.join(run_dir, "flags.json")
    if not os.path.isdir(run_dir):
        return
    if os.path.exists(flags_path):
        with open(flags_path) as f:
            if not experiment.settings_differences(json.load(f), settings):
                return
    logging.warning("%s holds a run made with other settings; starting it again.", run_dir)
    shutil.rmtree(run_dir)
    ledger = CpuLedger.path_of(run_dir)
    if os.path.exists(ledger):
        os.remove(ledger)


def add_occlusion(record, run, mask_run):
    """Adds occlusion robustness to a finished run's record (in place and in its JSON).

    A linear probe (the run's `probe_epochs` and seed) is trained on clean
    features of the training split and applied, unchanged, to the test
    images: clean, with one random square cutout per image
    (`OCCLUSION_CUTOUTS`, positions fixed by the seed, the same for every row)
    and with the most-occluding mask of `mask_run`'s learned masker (the
    ADIOS row of the same seed, so that every row meets the same masks).
    Needs the run folders (`encoder.keras`, `masker.keras`); returns False
    where they are missing (e.g. results reused from a fresh checkout).
    """
    import keras

    from keras_adios import data as data_lib
    from keras_adios import evaluation

    settings = run["settings"]
    encoder_path = os.path.join(settings["output_dir"], "encoder.keras")
    masker_path = None if mask_run is None else os.path.join(mask_run["settings"]["output_dir"], "masker.keras")
    if not os.path.exists(encoder_path) or masker_path is None or not os.path.exists(masker_path):
        return False
    logging.info("Occlusion robustness of %s seed %d", run["row"], run["seed"])
    keras.utils.set_random_seed(settings["seed"])
    train, held_out = experiment.load_splits(settings)
    size = experiment.image_size(settings, train)
    config = experiment.run_augmentation(settings, size)
    images, labels = (np.concatenate(a) for a in zip(*data_lib.make_eval_dataset(
        held_out.data, config=config, batch_size=256).as_numpy_iterator()))
    variants = evaluation.occlusion_variants(
        images, labels, cutout_sizes=[c for c in OCCLUSION_CUTOUTS if c < size],
        masker=keras.saving.load_model(masker_path), seed=settings["seed"],
    )
    accuracies = evaluation.background_robustness(
        keras.saving.load_model(encoder_path), None, variants,
        train_data=data_lib.make_eval_dataset(train.data, config=config, batch_size=256),
        probe_kwargs={"epochs": settings["probe_epochs"], "seed": settings["seed"]},
    )
    record["results"].update({f"occlusion_{k}_accuracy": float(v) for k, v in accuracies.items()})
    record["occlusion_masker"] = mask_run["row"]
    _write_json(record, run["path"])
    keras.backend.clear_session()
    gc.collect()
    return True


def needs_occlusion(record):
    """Natural-image runs (no synthetic ground truth) without occlusion figures yet."""
    settings = record.get("settings") or {}
    from keras_adios import data as data_lib

    return (data_lib.synthetic_shapes_options(settings.get("dataset", "")) is None
            and "occlusion_clean_accuracy" not in record.get("results", {}))


UNTRAINED_MASKER_DIR = "untrained_masker"


def untrained_masker_run(runs, seed, work_dir):
    """The reference run of a freshly initialised mask generator for `seed`."""
    source = next(r for r in runs if r["seed"] == seed and r["masking"] in ("adios", "adios_s"))
    # An untrained masker does not depend on the objective: one reference per seed
    # serves the SimCLR, BYOL and SimSiam rows alike.
    settings = dict(source["settings"], masking="adios", objective="simclr",
                    output_dir=os.path.join(work_dir, UNTRAINED_MASKER_DIR, f"seed_{seed}"))
    path = os.path.join(work_dir, "results", f"untrained_masker__seed_{seed}.json")
    return {"row": UNTRAINED_MASKER, "seed": seed, "settings": settings, "path": path}


def score_untrained_masker(run, commit):
    """Mask scores of an untrained `MaskGenerator` on the evaluation split.

    The trained maskers start from such a network; without this reference a
    mask score cannot be told apart from what the random UNet already gives.
    """
    import keras

    from keras_adios import data as data_lib
    from keras_adios import evaluation

    settings = run["settings"]
    keras.utils.set_random_seed(settings["seed"])
    shapes = data_lib.synthetic_shapes_options(settings["dataset"])
    if shapes is None:  # natural images: no ground truth, the masks' statistics only
        train, held_out = experiment.load_splits(settings)
        size = experiment.image_size(settings, train)
        config = experiment.run_augmentation(settings, size)
        images = np.concatenate([x for x, _ in data_lib.make_eval_dataset(
            experiment.subsample(held_out, 500), config=config, batch_size=256).as_numpy_iterator()])
        truth = {"foreground": None, "parts": None}
    else:
        size = shapes["image_size"]
        truth = data_lib.load_synthetic_shapes(
            settings["eval_split"], num_images=settings["num_eval_images"], image_size=size,
            seed=settings["seed"], background=shapes["background"],
        )
        config = experiment.run_augmentation(settings, size)
        images = np.asarray(data_lib.normalize(truth["images"].astype("float32") / 255.0, config))
    masker = experiment.build_model(settings, (size, size, 3), None).masker
    scores = evaluation.evaluate_masks(
        masker, images, foreground=truth["foreground"], parts=truth["parts"]
    )
    record = {key: run[key] for key in ("row", "seed", "settings")}
    record["results"] = {f"mask_{k}": float(v) for k, v in scores.items()}
    record["commit"] = commit
    _write_json(record, run["path"])
    keras.backend.clear_session()
    return record


def _write_json(record, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(tmp, path)  # a kill never leaves a half-written result


def _finite(value):
    return value is not None and math.isfinite(float(value))


def mean_std(values):
    """Mean and sample std (ddof=1; 0 for a single value) of the finite values."""
    values = [float(v) for v in values if _finite(v)]
    if not values:
        return None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "std": std, "n": len(values)}


def summarize(records, rows, masker_records=()):
    """Per row and metric: mean/std over seeds; plus the untrained reference rows."""
    summary = {}
    for row in rows:
        mine = [r["results"] for r in records if r["row"] == row]
        summary[row] = {key: mean_std([m.get(key) for m in mine]) for key, _ in METRICS}
    everything = [r["results"] for r in records]
    summary[UNTRAINED] = {key: None for key, _ in METRICS}
    summary[UNTRAINED]["linear_probe_accuracy"] = mean_std(
        [m.get("untrained_linear_probe_accuracy") for m in everything]
    )
    summary[UNTRAINED]["knn_accuracy"] = mean_std(
        [m.get("untrained_knn_accuracy") for m in everything]
    )
    if masker_records:
        summary[UNTRAINED_MASKER] = {
            key: (mean_std([r["results"].get(key) for r in masker_records]) if key in MASK_METRICS else None)
            for key, _ in METRICS
        }
    return summary


# The columns of METRICS whose difference to the no-mask row is tabulated.
DIFFERENCE_KEYS = ("linear_probe_accuracy", "knn_accuracy", "background_only_fg_accuracy",
                   "background_mixed_rand_accuracy", "occlusion_cutout_16_accuracy",
                   "occlusion_cutout_8_accuracy", "occlusion_learned_mask_accuracy")


def _paired(by_run, row, base, keys, combine=operator.sub):
    """`combine(row, base)` per key (default: the difference), over the seeds where both are finite."""
    out = {}
    for key in keys:
        seeds = sorted(s for (name, s), res in by_run.items() if name == row and _finite(res.get(key))
                       and _finite(by_run.get((base, s), {}).get(key)))
        stat = mean_std([combine(by_run[(row, s)][key], by_run[(base, s)][key]) for s in seeds])
        out[key] = stat and {
            "mean": stat["mean"], "n": stat["n"], "seeds": seeds,
            "se": stat["std"] / math.sqrt(stat["n"]) if stat["n"] > 1 else None,
        }
    return out


def paired_differences(records, rows, keys=DIFFERENCE_KEYS):
    """Each masked row minus its objective's no-mask row, paired by seed.

    Returns ``{row: {key: {"mean", "se", "n", "seeds"}}}`` for every row whose
    objective also has a ``none`` row, over the seeds both rows ran. ``se`` is the
    standard error of the mean paired difference (std ddof=1 / sqrt(n); None for
    one seed). A difference is resolved when ``|mean| > 2 * se``.
    """
    by_run = {(r["row"], r["seed"]): r["results"] for r in records}
    out = {}
    for row in rows:
        objective, masking = row.split("_", 1)
        base = f"{objective}_none"
        if masking == "none" or base not in rows:
            continue
        out[row] = _paired(by_run, row, base, keys)
    return out


# (masking, masking it is compared with) besides the no-mask baseline: does the
# learned masker beat masks that are not learned, and is ADIOS-s (one mask per
# image, the variant run at scale) as good as ADIOS for less training time.
COMPARISONS = (("adios", "random"), ("adios", "block"), ("adios_s", "adios"))


def paired_comparisons(records, rows, pairs=COMPARISONS, keys=DIFFERENCE_KEYS):
    """ADIOS against the masks that are not learned, and ADIOS-s against ADIOS.

    For each objective and each `(masking, other)` of `pairs` where both rows ran,
    the paired difference of every key (as in `paired_differences`) and
    ``cpu_time_ratio``: the mean over paired seeds of the row's CPU seconds over
    the other's (training and evaluation, the evaluation being the same for every
    row; CPU time rather than the wall clock, which pauses and neighbours on a
    shared machine inflate). Returns ``{"row vs other_row": {key: stat,
    "cpu_time_ratio": stat}}``, each stat as in `paired_differences`.
    """
    by_run = {(r["row"], r["seed"]): r for r in records}
    results = {run: r["results"] for run, r in by_run.items()}
    out = {}
    for row in rows:
        objective, masking = row.split("_", 1)
        for first, other in pairs:
            base = f"{objective}_{other}"
            if masking != first or base not in rows:
                continue
            stats = _paired(results, row, base, keys)
            ratio = _paired(by_run, row, base, ["cpu_seconds"], combine=operator.truediv)
            stats["cpu_time_ratio"] = ratio["cpu_seconds"]
            out[f"{row} vs {base}"] = stats
    return out


def _difference_cell(stat):
    if stat is None:
        return "–"
    if stat["se"] is None:
        return f"{stat['mean']:+.3f} (1 seed)"
    verdict = "resolved" if abs(stat["mean"]) > 2 * stat["se"] else "within 2 SE"
    return f"{stat['mean']:+.3f} ± {stat['se']:.3f} ({stat['n']} seeds, {verdict})"


def _cell(stat):
    if stat is None:
        return "–"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def evaluation_images(settings):
    """Where a table's accuracies are measured, in words: the test split or a held-out part."""
    folder = experiment.holdout_folder({**experiment.DEFAULTS, **settings})
    if folder is not None:
        fraction = settings.get("holdout_fraction", experiment.DEFAULTS["holdout_fraction"])
        return (f"the {fraction:.0%} of `{folder}` held out from pretraining (seeded by the run's seed; "
                "no test image is used)")
    return f"the {settings.get('eval_split', 'test')} split"


def markdown(summary, rows, meta):
    lines = [
        "# Quality benchmark: ADIOS against its baselines",
        "",
        f"Written by `benchmarks/quality.py` on {meta['date']} at commit `{meta['commit']}` "
        f"(runs computed at {', '.join(meta['run_commits'])}), "
        f"backend {meta['backend']}; total time {meta['total_seconds'] / 60:.1f} min for this "
        f"invocation ({meta['runs_computed']} runs computed, {meta['runs_reused']} reused), "
        f"{meta['sum_of_run_seconds'] / 60:.1f} min summed over the runs' own times. "
        f"Mean ± std (ddof=1) over seeds {', '.join(str(s) for s in meta['seeds'])}; "
        f"chance = {meta['chance_accuracy']:.3f}.",
        "",
    ]
    # Only the columns some row has a figure for (shapes: masks against ground
    # truth and backgrounds; natural images: mask statistics and occlusion).
    metrics = [(key, title) for key, title in METRICS
               if any((summary[row] or {}).get(key) for row in summary)] or list(METRICS[:2])
    lines += [
        "| objective | masking | " + " | ".join(title for _, title in metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for row in rows:
        objective, masking = row.split("_", 1)
        cells = [_cell(summary[row][key]) for key, _ in metrics]
        lines.append(f"| {objective} | {MASKING_LABELS[masking]} | " + " | ".join(cells) + " |")
    for reference in (UNTRAINED, UNTRAINED_MASKER):
        if reference in summary:
            cells = [_cell(summary[reference][key]) for key, _ in metrics]
            lines.append(f"| – | {reference} | " + " | ".join(cells) + " |")
    differences, difference_lines = meta.get("differences") or {}, []
    keys = [key for key in DIFFERENCE_KEYS
            if any((stats or {}).get(key) for stats in [*differences.values(),
                                                         *(meta.get("comparisons") or {}).values()])]
    keys = keys or list(DIFFERENCE_KEYS[:2])
    if differences:
        difference_lines += [
            "Difference to the same objective without masks, paired by seed: mean ± standard "
            "error (std ddof=1 / sqrt(n)); resolved when |mean| > 2 SE.",
            "",
            "| objective | masking | " + " | ".join(dict(METRICS)[key] for key in keys) + " |",
            "|---|---|" + "---|" * len(keys),
        ]
        for row, stats in differences.items():
            objective, masking = row.split("_", 1)
            cells = [_difference_cell(stats.get(key)) for key in keys]
            difference_lines.append(f"| {objective} | {MASKING_LABELS[masking]} | " + " | ".join(cells) + " |")
        difference_lines.append("")
    comparisons = meta.get("comparisons") or {}
    if comparisons:
        difference_lines += [
            "ADIOS against the masks that are not learned, and ADIOS-s against ADIOS: the first "
            "row minus the second, paired by seed (same statistics); CPU time: the mean ratio of "
            "the runs' CPU seconds (training and the same evaluation; a run resumed after an "
            "interruption counts only its last part).",
            "",
            "| objective | masking | against | " + " | ".join(dict(METRICS)[key] for key in keys)
            + " | CPU time |",
            "|---|---|---|" + "---|" * (len(keys) + 1),
        ]
        for pair, stats in comparisons.items():
            row, base = pair.split(" vs ")
            objective, masking = row.split("_", 1)
            ratio = stats.get("cpu_time_ratio")
            cells = [_difference_cell(stats.get(key)) for key in keys]
            cells.append(f"{ratio['mean']:.2f}x" if ratio else "–")
            difference_lines.append(
                f"| {objective} | {MASKING_LABELS[masking]} | {MASKING_LABELS[base.split('_', 1)[1]]} | "
                + " | ".join(cells) + " |")
        difference_lines.append("")
    settings = meta["settings"]
    # The image counts only apply to the synthetic datasets (folders and tfds use every image).
    from keras_adios import data as data_lib

    synthetic = data_lib.synthetic_shapes_options(settings.get("dataset", "")) is not None
    shown = (("dataset",) + (("num_train_images", "num_eval_images") if synthetic else ("augmentation",))
             + ("epochs", "batch_size", "encoder", "encoder_widths", "optimizer", "learning_rate",
                "mask_learning_rate", "num_masks", "mask_filters", "sparsity_weight", "temperature",
                "probe_epochs", "knn_k", "knn_temperature"))
    lines += [
        "",
        f"Columns: linear probe and kNN (k={settings['knn_k']}, T={settings['knn_temperature']:g}) top-1 "
        f"accuracy on {evaluation_images(settings)}; mask IoU: "
        "the best mask's IoU with the ground-truth foreground; ARI of the argmax mask "
        "assignment against foreground/background and against the parts; only-fg / "
        "mixed-rand: the probe (trained on original images) on the foreground alone and on "
        "the foreground pasted on another image's background; cutout 16 / cutout 8 / learned mask "
        "(natural images): a probe trained on clean images, on the same evaluation images with one random "
        "square of that side hidden (positions fixed by the seed) and with the most-occluding mask of the same "
        "seed's ADIOS masker hidden. Columns without figures are left out. The untrained encoder row is the same "
        "probes on a freshly initialised encoder, over every run; the untrained mask generator row "
        "scores a freshly initialised `MaskGenerator` (what ADIOS starts from), one per seed.",
        "",
        "Settings (every row, besides objective and masking): "
        + ", ".join(f"`{k}={settings[k]}`" for k in shown if k in settings) + ".",
        "",
        "Plots: `quality_accuracy%s.png` (accuracy per method), `quality_curves%s.png` (kNN accuracy, "
        "mask confidence and mask IoU against training steps, monitored every `monitor_every` epochs), "
        % (meta["suffix"], meta["suffix"])
        + _mask_grid_sentence(meta),
        "",
    ] + difference_lines
    return "\n".join(lines)


def plot_accuracy(summary, objectives, maskings, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    width = 0.8 / len(maskings)
    x = np.arange(len(objectives))
    for ax, (key, title) in zip(axes, METRICS[:2]):
        for i, masking in enumerate(maskings):
            stats = [summary[row_name(o, masking)][key] for o in objectives]
            means = [s["mean"] if s else np.nan for s in stats]
            stds = [s["std"] if s else 0.0 for s in stats]
            ax.bar(x + (i - (len(maskings) - 1) / 2) * width, means, width, yerr=stds,
                   capsize=3, label=MASKING_LABELS[masking])
        reference = summary[UNTRAINED][key]
        if reference:
            ax.axhline(reference["mean"], color="k", linestyle="--", linewidth=1, label=UNTRAINED)
        ax.set_xticks(x)
        ax.set_xticklabels([o.upper() if o != "simsiam" else "SimSiam" for o in objectives])
        ax.set_title(f"{title} accuracy")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("top-1 accuracy (mean ± std over seeds)")
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: Per-epoch metrics of `metrics.json` that `plot_curves` draws: (key, panel title).
CURVES = (
    ("val_knn_accuracy", "kNN accuracy during training (KNNMonitor)"),
    ("mask_confidence", "mask confidence (1/N uniform, 1 hard)"),
    ("mask_foreground_iou", "best mask's foreground IoU"),
)


def curves(records, rows):
    """Per row and curve: training step -> (mean, min, max) over the row's seeds.

    Built from each record's `history` (its run's `metrics.json`); a step is
    `epoch * steps_per_epoch` (the setting, or `num_train_images // batch_size`,
    the pipeline's full batches). Only
    epochs where every seed of the row logged the metric are kept, so a curve
    never mixes seeds that stopped early with seeds that did not.

    Returns:
        `{row: {key: {"steps": [...], "mean": [...], "min": [...], "max": [...]}}}`,
        rows and keys without any point left out.
    """
    out = {}
    for row in rows:
        mine = [r for r in records if r["row"] == row and r.get("history")]
        for key, _ in CURVES:
            per_seed = []
            for record in mine:
                settings = record["settings"]
                steps_per_epoch = int(record.get("results", {}).get("steps_per_epoch") or settings.get("steps_per_epoch")
                                      or int(settings["num_train_images"]) // int(settings["batch_size"]))
                per_seed.append({int(e["epoch"]) * steps_per_epoch: float(e[key])
                                 for e in record["history"] if e.get(key) is not None})
            common = sorted(set.intersection(*(set(s) for s in per_seed))) if per_seed else []
            if not common:
                continue
            values = np.array([[s[step] for step in common] for s in per_seed])
            out.setdefault(row, {})[key] = {
                "steps": common,
                "mean": values.mean(axis=0).tolist(),
                "min": values.min(axis=0).tolist(),
                "max": values.max(axis=0).tolist(),
            }
    return out


def plot_curves(records, rows, path):
    """kNN accuracy, mask confidence and mask IoU against training steps, per row.

    Lines are means over seeds, shaded bands their range. The kNN curve is the
    training-time monitor's (a 2,000-image bank), so it sits below the final
    evaluation's kNN, which uses every training image (so no untrained-encoder
    line is drawn: its figure is on the final protocol). Returns the curve data
    (`curves(records, rows)`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = curves(records, rows)
    fig, axes = plt.subplots(1, len(CURVES), figsize=(14, 3.8))
    for ax, (key, title) in zip(axes, CURVES):
        for i, row in enumerate(rows):
            curve = data.get(row, {}).get(key)
            if curve is None:
                continue
            objective, masking = row.split("_", 1)
            label = f"{objective} {MASKING_LABELS[masking]}"
            color = f"C{i % 10}"  # one colour per row in every panel
            ax.plot(curve["steps"], curve["mean"], color=color, marker="o", markersize=3, label=label)
            ax.fill_between(curve["steps"], curve["min"], curve["max"], color=color, alpha=0.15)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return data


def _mask_grid_sentence(meta):
    """Which mask grid `quality_masks_over_epochs<suffix>.png` shows, for the table."""
    name = "`quality_masks_over_epochs%s.png`" % meta["suffix"]
    if meta.get("mask_grid"):
        return "%s (masks of %s, seed %s, over epochs)." % (name, meta["mask_grid"], meta["seeds"][0])
    missing = "no run folder of %s, seed %s, here" % (meta["mask_row"], meta["seeds"][0])
    kept = meta.get("mask_grid_kept")
    if kept:
        return "%s (masks of %s, seed %s, over epochs; drawn on %s and kept: %s)." % (
            name, kept["row"], kept["seed"], kept["drawn"], missing)
    return "no mask grid drawn by this invocation (%s)." % missing


def kept_mask_grid(output_dir, suffix):
    """The mask grid an earlier invocation drew in `output_dir`, if its picture is still there.

    Reusing committed results (a fresh checkout resuming the matrix) leaves no run
    folders, hence nothing to redraw; the picture drawn before stays valid for
    the same row and seed, so the table keeps naming it. Returns
    `{"row", "seed", "drawn"}` or None.
    """
    picture = os.path.join(output_dir, f"quality_masks_over_epochs{suffix}.png")
    try:
        with open(os.path.join(output_dir, f"quality{suffix}.json")) as f:
            previous = json.load(f)["meta"]
    except (OSError, ValueError, KeyError):
        return None
    if not os.path.exists(picture):
        return None
    if previous.get("mask_grid"):
        return {"row": previous["mask_grid"], "seed": previous["seeds"][0], "drawn": previous["date"]}
    if "mask_grid" not in previous and previous.get("mask_row"):
        # Written before tables recorded the grid: its picture is of that run's mask_row.
        return {"row": previous["mask_row"], "seed": previous["seeds"][0], "drawn": previous["date"]}
    return previous.get("mask_grid_kept")


def plot_masks_over_epochs(masks_dir, path, max_epochs=4, image_rows=4, num_vis_images=8):
    """Stacks the first `image_rows` images of the grids of up to `max_epochs` epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image
    import matplotlib.pyplot as plt

    files = sorted(f for f in os.listdir(masks_dir) if f.startswith("masks_epoch_") and f.endswith(".png"))
    if not files:
        raise FileNotFoundError(f"No masks_epoch_*.png in {masks_dir}")
    picks = sorted({files[round(i)] for i in np.linspace(0, len(files) - 1, min(max_epochs, len(files)))})
    fig, axes = plt.subplots(len(picks), 1, figsize=(7, 1.9 * len(picks) * image_rows / 4 + 0.3), squeeze=False)
    for ax, name in zip(axes[:, 0], picks):
        grid = matplotlib.image.imread(os.path.join(masks_dir, name))
        rows = min(image_rows, num_vis_images)
        ax.imshow(grid[: grid.shape[0] * rows // num_vis_images])
        ax.set_title(f"epoch {int(name[len('masks_epoch_'):-4])}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return picks


def _commit():
    """The short HEAD commit, `+changes` if tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def run_benchmark(objectives, maskings, seeds, base_settings, work_dir, output_dir,
                  mask_row="simclr_adios", tag=None, notes=None):
    """Runs (or reuses) every (row, seed), then writes the tables and plots."""
    import keras

    start = time.time()
    commit = _commit()
    runs = plan(objectives, maskings, seeds, base_settings, work_dir)
    rows = [row_name(o, m) for o in objectives for m in maskings]
    records, computed, reused = [], 0, 0
    progress = keras.utils.Progbar(len(runs), unit_name="run")
    for i, run in enumerate(runs):
        record = load_finished(run)
        if record is None:
            logging.info("Run %d/%d: %s seed %d", i + 1, len(runs), run["row"], run["seed"])
            record = execute(run, commit)
            computed += 1
        else:
            reused += 1
        records.append(record)
        res = record["results"]
        progress.update(i + 1, [("probe", res["linear_probe_accuracy"]), ("knn", res["knn_accuracy"])])

    # Occlusion robustness, once every run of a seed is there (each row meets
    # the masks of the same seed's `mask_row` run).
    for run, record in zip(runs, records):
        if needs_occlusion(record):
            mask_run = next((r for r in runs if r["row"] == mask_row and r["seed"] == run["seed"]), None)
            if not add_occlusion(record, run, mask_run):
                logging.warning("%s seed %d: no occlusion figures (its run folder or the %s masker "
                                "of its seed is missing).", run["row"], run["seed"], mask_row)

    masker_records = []
    for seed in sorted({r["seed"] for r in runs if r["masking"] in ("adios", "adios_s")}):
        reference = untrained_masker_run(runs, seed, work_dir)
        masker_records.append(load_finished(reference) or score_untrained_masker(reference, commit))
    summary = summarize(records, rows, masker_records)
    suffix = f"_{tag}" if tag else ""
    os.makedirs(output_dir, exist_ok=True)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "run_commits": sorted({r.get("commit", "not recorded") for r in records}),
        "backend": keras.backend.backend(),
        "total_seconds": round(time.time() - start, 1),
        "sum_of_run_seconds": round(sum(r["results"]["total_seconds"] for r in records), 1),
        "runs_computed": computed,
        "runs_reused": reused,
        "seeds": [int(s) for s in seeds],
        "objectives": list(objectives),
        "maskings": list(maskings),
        "settings": {k: v for k, v in runs[0]["settings"].items()
                     if k not in ("objective", "masking", "seed", "output_dir")},
        "chance_accuracy": records[0]["results"]["chance_accuracy"],
        "mask_row": mask_row,
        "suffix": suffix,
        "differences": paired_differences(records, rows),
        "comparisons": paired_comparisons(records, rows),
    }
    masks_dir = os.path.join(work_dir, mask_row, f"seed_{seeds[0]}", "masks")
    # Results reused from JSON files (e.g. committed ones, in a fresh checkout)
    # come without their run folders, hence without mask grids.
    meta["mask_grid"] = mask_row if mask_row in rows and os.path.isdir(masks_dir) else None
    meta["mask_grid_kept"] = None if meta["mask_grid"] else kept_mask_grid(output_dir, suffix)
    with open(os.path.join(output_dir, f"quality{suffix}.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "runs": records, "references": masker_records},
                  f, indent=2, sort_keys=True)
    with open(os.path.join(output_dir, f"quality{suffix}.md"), "w") as f:
        f.write(markdown(summary, rows, meta))
        if notes:
            with open(notes) as notes_file:
                f.write("\n" + notes_file.read())
    plot_accuracy(summary, objectives, maskings, os.path.join(output_dir, f"quality_accuracy{suffix}.png"))
    plot_curves(records, rows, os.path.join(output_dir, f"quality_curves{suffix}.png"))
    if mask_row in rows and not meta["mask_grid"]:
        logging.warning("No run folder with mask grids at %s; quality_masks_over_epochs%s.png not %s.",
                        masks_dir, suffix, "redrawn (the earlier one is kept)" if meta["mask_grid_kept"]
                        else "written")
    elif meta["mask_grid"]:
        plot_masks_over_epochs(
            masks_dir, os.path.join(output_dir, f"quality_masks_over_epochs{suffix}.png"),
            num_vis_images=int(meta["settings"]["num_vis_images"]),
        )
    logging.info("Wrote %s/quality%s.{md,json,png} in %.1f min (%d runs computed, %d reused)",
                 output_dir, suffix, meta["total_seconds"] / 60, computed, reused)
    return {"meta": meta, "summary": summary, "runs": records}


def main(argv):
    del argv
    base = {"dataset": FLAGS.dataset}
    objectives, maskings, seeds = FLAGS.objectives, FLAGS.maskings, [int(s) for s in FLAGS.seeds]
    if FLAGS.quick:
        objectives, maskings, seeds = QUICK["objectives"], QUICK["maskings"], QUICK["seeds"]
        base.update(QUICK["settings"])
    for key in ("num_train_images", "num_eval_images", "epochs", "batch_size", "probe_epochs"):
        if getattr(FLAGS, key) is not None:
            base[key] = getattr(FLAGS, key)
    try:
        base.update(parse_set(FLAGS.set))
        run_benchmark(objectives, maskings, seeds, base, FLAGS.work_dir, FLAGS.output_dir,
                      mask_row=FLAGS.mask_row, tag=FLAGS.tag, notes=FLAGS.notes)
    except (ValueError, FileNotFoundError) as e:
        logging.error("%s", e)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
