"""The quality matrix at a long budget, trained on a GPU machine without TensorFlow.

The CPU matrix (`benchmarks/run_matrix.sh`) trains 20 epochs (1,560 steps) per
run. This benchmark runs the same rows with the same settings but the number of
epochs (default 200, 10x) on a machine lent for minutes: one NVIDIA GPU with JAX
but no TensorFlow and no network. `benchmarks/run_long_budget.sh` drives it:

1. `--mode=prepare` (here, with TensorFlow): plans each run's settings exactly as
   `benchmarks/quality.py` does, builds its `keras_adios.ADIOS` model and
   optimizers through `keras_adios.experiment` and stores their Keras configs in
   `runs.json`, and the arrays `experiment.train` would load (training and test
   splits, ground-truth masks, background variants) in one `.npz` per dataset.
2. `--mode=device` (on the GPU machine, JAX): starts every run as its own
   `--mode=run` process at once (one run leaves the GPU mostly idle), and stops
   those still going after `--limit_seconds`. A run rebuilds its model from its
   config and trains it with `model.fit`, its views made on the GPU by
   `benchmarks/jax_views.py` (the package's augmentation in JAX, tested equal to
   it), with the CPU runs' monitors every `--monitor_every` epochs; then it is
   evaluated by `keras_adios.evaluation.evaluate_representation`, the function
   `experiment.evaluate_model` calls (linear probe, kNN, the untrained encoder,
   k-means, masks, backgrounds), and writes the record `quality.py`
   writes. TensorFlow is made unimportable in these processes, so a run here
   proves the device run needs none.
3. `--mode=tables` (here): files the finished records where `quality.py` reads
   them and writes its tables (`quality_long_budget_<dataset>.md`); or
   `--mode=report`, for runs stopped before the end too: each run's monitors at
   matched epochs, the finished runs' evaluation and each run's pace
   (`benchmarks/results/long_budget.md`).

Example (a smoke-sized run of the whole procedure; tests/benchmarks/test_long_budget.py):

    python benchmarks/long_budget.py --mode=prepare --epochs=2 --runs=shapes32:simclr_adios \
        --set=num_train_images=128,num_eval_images=64,batch_size=64 --bundle_dir=/tmp/b
    KERAS_BACKEND=jax python benchmarks/long_budget.py --mode=device --bundle_dir=/tmp/b \
        --output_dir=/tmp/d
    python benchmarks/long_budget.py --mode=report --bundle_dir=/tmp/b --device_dirs=/tmp/d \
        --results_root=/tmp/r --report_path=/tmp/long_budget
"""

import gc
import importlib.abc
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

import numpy as np
from absl import app
from absl import flags
from absl import logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
#: The CPU matrix's settings (benchmarks/run_matrix.sh), but the epochs.
MATRIX_SETTINGS = {"num_train_images": 10000, "num_eval_images": 1000, "batch_size": 128,
                   "probe_epochs": 50}
#: The headline pair on the shortcut data, the same on the easy data, then ADIOS-s.
DEFAULT_RUNS = ["shapes32_shortcut:simclr_none", "shapes32_shortcut:simclr_adios",
                "shapes32:simclr_none", "shapes32:simclr_adios",
                "shapes32_shortcut:simclr_adios_s", "shapes32:simclr_adios_s"]


def define_flags():
    flags.DEFINE_enum("mode", None, ["prepare", "device", "run", "tables", "report"],
                      "prepare (here), device (on the GPU machine: every run side by side, each "
                      "one --mode=run process), tables or report (here, from the device's output).")
    flags.DEFINE_integer("limit_seconds", 480, "device: the time the runs may take together.")
    flags.DEFINE_list("indices", None, "device: only these runs of the bundle (0-based; default all).")
    flags.DEFINE_string("tarball", None, "tables: the long_budget.tar of the device step.")
    flags.DEFINE_list("device_dirs", [], "report: the device step's folders (its tarballs, extracted).")
    flags.DEFINE_string("report_path", os.path.join(ROOT, "benchmarks", "results", "long_budget"),
                        "report: writes REPORT_PATH.{md,json,png}.")
    flags.DEFINE_string("results_root", os.path.join(ROOT, "benchmarks", "results", "long_budget"),
                        "tables: where the records are committed, one folder per dataset.")
    flags.DEFINE_string("tables_dir", os.path.join(ROOT, "benchmarks", "results"),
                        "tables: where quality_long_budget_<dataset>.{md,json,png} go.")
    flags.DEFINE_string("bundle_dir", os.path.join(ROOT, ".device_bundle"), "Where prepare writes and run reads.")
    flags.DEFINE_list("runs", DEFAULT_RUNS, "DATASET:ROW (ROW = objective_masking) in run order, most "
                      "informative first: a run that does not fit in the device time is the one left out.")
    flags.DEFINE_list("seeds", ["0"], "Seeds.")
    flags.DEFINE_integer("epochs", 200, "Epochs per run (the CPU matrix: 20).")
    flags.DEFINE_list("set", [], "prepare: other settings as KEY=VALUE (as quality.py's --set; for smoke tests).")
    flags.DEFINE_integer("monitor_every", 20, "Epochs between kNN / mask monitors (and mask pictures).")
    flags.DEFINE_string("work_root", os.path.join("runs", "long_budget"),
                        "prepare: the run folders' root named in the settings (as quality.py's --work_dir).")
    flags.DEFINE_string("output_dir", None, "run: where the record and the mask pictures go.")
    flags.DEFINE_integer("index", None, "run: which run of the bundle (0-based, the order of --runs); "
                         "benchmarks/run_long_budget.sh starts one process per run, side by side.")


# === prepare (TensorFlow) ===


def plan_runs(items, seeds, epochs, monitor_every, work_root, overrides=None):
    """quality.py's plan entry of every `DATASET:ROW` item and seed, in that order."""
    import quality

    runs = []
    for item in items:
        dataset, sep, row = item.partition(":")
        objective, _, masking = row.partition("_")
        if not sep or not masking:
            raise ValueError(f"--runs items are DATASET:OBJECTIVE_MASKING, e.g. "
                             f"shapes32:simclr_adios. Received: {item!r}")
        base = dict(MATRIX_SETTINGS, dataset=dataset, epochs=epochs, monitor_every=monitor_every,
                    **(overrides or {}))
        runs += quality.plan([objective], [masking], seeds, base, os.path.join(work_root, dataset))
    return runs


def prepare(runs, bundle_dir):
    """Writes `runs.json` (settings, model and optimizer configs) and one
    `data_<dataset>_seed_<seed>.npz` per data set into `bundle_dir`."""
    import keras
    import quality

    from keras_adios import data as data_lib
    from keras_adios import experiment

    os.makedirs(bundle_dir, exist_ok=True)
    entries = []
    for run in runs:
        settings = run["settings"]
        train, held_out = experiment.load_splits(settings)
        size = train.image_size
        config = experiment.run_augmentation(settings, size)
        steps_per_epoch = train.size // settings["batch_size"]
        num_classes = max(train.num_classes, held_out.num_classes or 0)
        model = experiment.build_model(settings, (size, size, 3), num_classes,
                                       total_steps=settings["epochs"] * steps_per_epoch)
        optimizer = lambda lr: keras.saving.serialize_keras_object(  # noqa: E731
            experiment.make_optimizer(settings, lr, steps_per_epoch))
        data_file = f"data_{settings['dataset']}_seed_{settings['seed']}.npz"
        entries.append({
            **{k: run[k] for k in ("row", "objective", "masking", "seed", "settings")},
            "dataset": settings["dataset"],
            "record": os.path.relpath(run["path"], ROOT),
            "data": data_file,
            "steps_per_epoch": steps_per_epoch,
            "num_classes": num_classes,
            "augmentation": config.get_config(),
            "model": keras.saving.serialize_keras_object(model),
            "encoder_optimizer": optimizer(settings["learning_rate"]),
            "masker_optimizer": optimizer(settings["mask_learning_rate"]),
        })
        path = os.path.join(bundle_dir, data_file)
        if not os.path.exists(path):
            shapes = data_lib.synthetic_shapes_options(settings["dataset"])
            truth = lambda n: data_lib.load_synthetic_shapes(  # noqa: E731
                settings["eval_split"], num_images=n, image_size=size, seed=settings["seed"],
                background=shapes["background"])
            ground_truth, monitored = truth(held_out.size), truth(min(held_out.size, 500))
            variants = data_lib.background_variants(ground_truth, seed=settings["seed"])
            np.savez_compressed(
                path, train_images=train.data[0], train_labels=train.data[1],
                eval_images=held_out.data[0], eval_labels=held_out.data[1],
                foreground=ground_truth["foreground"], parts=ground_truth["parts"].astype(np.uint8),
                truth_labels=ground_truth["labels"],
                monitor_images=monitored["images"], monitor_foreground=monitored["foreground"],
                monitor_parts=monitored["parts"].astype(np.uint8),
                **{f"variant_{name}": images for name, images in variants.items()},
            )
        keras.backend.clear_session()
    with open(os.path.join(bundle_dir, "runs.json"), "w") as f:
        json.dump({"commit": quality._commit(), "runs": entries}, f, indent=1)
    size_mb = sum(os.path.getsize(os.path.join(bundle_dir, n)) for n in os.listdir(bundle_dir)) / 2**20
    logging.info("Wrote %d runs and their data to %s (%.1f MiB).", len(entries), bundle_dir, size_mb)


# === run (JAX, no TensorFlow) ===


def load_data(path, config):
    """The arrays of one data file, evaluation images normalised."""
    import jax_views

    with np.load(path) as f:
        arrays = dict(f)
    arrays["variants"] = {k[len("variant_"):]: jax_views.normalize(v, config)
                          for k, v in arrays.items() if k.startswith("variant_")}
    for key in ("train_images", "eval_images", "monitor_images"):
        arrays[key.replace("images", "x")] = jax_views.normalize(arrays[key], config)
    return arrays


def view_batches(images, labels, maker, batch_size, steps_per_epoch, seed):
    """Endless `((view1, view2), labels)` batches made on the device: each epoch
    a fresh permutation (whole batches), each batch fresh draws."""
    import jax
    import jax.numpy as jnp

    images, labels = jnp.asarray(images), jnp.asarray(labels)
    key = jax.random.key(seed)
    while True:
        key, perm_key = jax.random.split(key)
        order = jax.random.permutation(perm_key, images.shape[0])
        for step in range(steps_per_epoch):
            key, view_key = jax.random.split(key)
            index = order[step * batch_size:(step + 1) * batch_size]
            yield maker(images[index], view_key), labels[index]


def train_run(entry, arrays, run_dir):
    """Trains one run with `model.fit`; returns the model and the training seconds."""
    import keras

    import jax_views
    from keras_adios.callbacks import KNNMonitor
    from keras_adios.callbacks import MaskQualityMonitor
    from keras_adios.callbacks import MaskVisualizer
    from keras_adios.callbacks import MetricsLogger
    from keras_adios.callbacks import NonFiniteGuard

    settings, config = entry["settings"], entry["augmentation"]
    keras.utils.set_random_seed(settings["seed"])
    model = keras.saving.deserialize_keras_object(entry["model"])
    model.compile(
        encoder_optimizer=keras.saving.deserialize_keras_object(entry["encoder_optimizer"]),
        masker_optimizer=keras.saving.deserialize_keras_object(entry["masker_optimizer"]),
        probe_optimizer=keras.optimizers.Adam(settings["probe_learning_rate"]),
        jit_compile=True,
    )
    every = settings["monitor_every"]
    stride = max(1, -(-len(arrays["train_x"]) // 2000))  # experiment.subsample(train, 2000)
    clock = {}
    timer = keras.callbacks.LambdaCallback(  # seconds per epoch, in the history
        on_epoch_begin=lambda epoch, logs: clock.update(start=time.time()),
        on_epoch_end=lambda epoch, logs: logs.update(epoch_seconds=time.time() - clock["start"]))
    callbacks = [NonFiniteGuard(run_dir=run_dir), timer, MetricsLogger(run_dir)]
    callbacks.append(KNNMonitor(
        (arrays["train_x"][::stride], arrays["train_labels"][::stride]),
        (arrays["eval_x"], arrays["eval_labels"]), k=settings["knn_k"],
        temperature=settings["knn_temperature"], every_n_epochs=every,
        probe_epochs=settings["monitor_probe_epochs"]))
    if entry["masking"] in ("adios", "adios_s"):
        callbacks.append(MaskQualityMonitor(arrays["monitor_x"], foreground=arrays["monitor_foreground"],
                                            parts=arrays["monitor_parts"], every_n_epochs=every))
        std, mean = np.asarray(config["std"], np.float32), np.asarray(config["mean"], np.float32)
        callbacks.append(MaskVisualizer(arrays["eval_x"][: settings["num_vis_images"]],
                                        os.path.join(run_dir, "masks"), every_n_epochs=every,
                                        denormalize=lambda x: x * std + mean))
    batches = view_batches(arrays["train_images"], arrays["train_labels"].astype("int32"),
                           jax_views.ViewMaker(config), settings["batch_size"],
                           entry["steps_per_epoch"], settings["seed"])
    start = time.time()
    model.fit(batches, epochs=settings["epochs"], steps_per_epoch=entry["steps_per_epoch"],
              callbacks=callbacks, verbose=2)
    return model, time.time() - start


def evaluate_run(model, settings, arrays):
    """`experiment.evaluate_model` on arrays: `evaluation.evaluate_representation`
    with the run's settings (the same probes, scores and reference)."""
    from keras_adios import evaluation

    variants = {name: (x, arrays["truth_labels"]) for name, x in arrays["variants"].items()}
    return evaluation.evaluate_representation(
        model.encoder,
        (arrays["train_x"], arrays["train_labels"]),
        (arrays["eval_x"], arrays["eval_labels"]),
        masker=model.masker,
        mask_data={"images": arrays["eval_x"], "foreground": arrays["foreground"], "parts": arrays["parts"]},
        background_variants=variants,
        probe_epochs=settings["probe_epochs"],
        knn_k=settings["knn_k"],
        knn_temperature=settings["knn_temperature"],
        seed=settings["seed"],
    )


def filed_path(results_root, entry, suffix=".json"):
    """Where a run's record is committed: `quality.py`'s `<row>__seed_<seed>.json`
    under `results_root/<dataset>/` (the folder is made)."""
    folder = os.path.join(results_root, entry["dataset"])
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{entry['row']}__seed_{entry['seed']}{suffix}")


def run_name(entry):
    return f"{entry['dataset']}__{entry['row']}__seed_{entry['seed']}"


def run_one(bundle_dir, index, output_dir):
    """Trains and evaluates run `index` of the bundle; writes `<name>.json` (the
    record `quality.py` reads) and the mask pictures under `output_dir/<name>/`."""
    import keras

    with open(os.path.join(bundle_dir, "runs.json")) as f:
        bundle = json.load(f)
    entry = bundle["runs"][index]
    name = run_name(entry)
    record_path = os.path.join(output_dir, name + ".json")
    if os.path.exists(record_path):
        logging.info("%s is done (%s).", name, record_path)
        return
    logging.info("Run %d/%d: %s (%d epochs of %d steps)", index + 1, len(bundle["runs"]), name,
                 entry["settings"]["epochs"], entry["steps_per_epoch"])
    arrays = load_data(os.path.join(bundle_dir, entry["data"]), entry["augmentation"])
    run_dir = os.path.join(output_dir, name)
    start, cpu_start = time.time(), time.process_time()
    model, train_seconds = train_run(entry, arrays, run_dir)
    results = evaluate_run(model, entry["settings"], arrays)
    results.update(train_seconds=round(train_seconds, 1), total_seconds=round(time.time() - start, 1),
                   backend=keras.backend.backend())
    with open(os.path.join(run_dir, "metrics.json")) as f:
        history = json.load(f)
    record = {key: entry[key] for key in ("row", "objective", "masking", "seed", "settings")}
    record.update(results=results, history=history, commit=bundle["commit"],
                  cpu_seconds=round(time.process_time() - cpu_start, 1), device=_device_name())
    with open(record_path + ".tmp", "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(record_path + ".tmp", record_path)
    logging.info("%s: probe %.3f, kNN %.3f, %.0f s training", name, results["linear_probe_accuracy"],
                 results["knn_accuracy"], train_seconds)


# === device: the runs side by side ===


def device(bundle_dir, output_dir, limit_seconds, indices=None, poll_seconds=5):
    """Starts every run of the bundle (or `indices`) as its own process at once and
    stops those still going after `limit_seconds`; writes `device_report.json`
    (per run: finished or not, epochs done, seconds per epoch).

    No run is stopped early to make room for the others: on an H200 one run is
    bound by latency, not by the GPU's arithmetic (an ADIOS epoch: 2.1 s alone,
    27 ms per step; 3.0-3.3 s with six runs side by side, so six at once give
    about 4x the throughput of one), and stopping one gives the others little
    (benchmarks/results/long_budget.md).
    """
    with open(os.path.join(bundle_dir, "runs.json")) as f:
        entries = json.load(f)["runs"]
    os.makedirs(output_dir, exist_ok=True)
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_PYTHON_CLIENT_PREALLOCATE="false", PYTHONUNBUFFERED="1")
    start = time.time()
    procs = {}
    for i, entry in enumerate(entries):
        if indices is not None and i not in indices:
            continue
        with open(os.path.join(output_dir, f"run_{i}.log"), "w") as log:
            procs[i] = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--mode=run", f"--index={i}",
                 f"--bundle_dir={bundle_dir}", f"--output_dir={output_dir}"],
                env=env, stdout=log, stderr=subprocess.STDOUT)
    while any(p.poll() is None for p in procs.values()) and time.time() - start < limit_seconds:
        time.sleep(poll_seconds)
    report = {}
    for i, proc in procs.items():
        name = run_name(entries[i])
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
            logging.warning("Stopped %s: out of time (%d s).", name, limit_seconds)
        history = _history(os.path.join(output_dir, name))
        report[name] = {"index": i, "epochs": entries[i]["settings"]["epochs"],
                        "epochs_done": len(history), "seconds_per_epoch": _pace(history),
                        "finished": os.path.exists(os.path.join(output_dir, name + ".json")),
                        "returncode": proc.returncode}
    report["wall_seconds"] = round(time.time() - start)
    with open(os.path.join(output_dir, "device_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    logging.info("%s", json.dumps(report, indent=1))


def _history(run_dir):
    """The per-epoch records of a run's `metrics.json` ([] before its first epoch).

    `quality._history` reads the same file, but `quality.py` needs TensorFlow,
    which the device mode (which calls this) must not import."""
    try:
        with open(os.path.join(run_dir, "metrics.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def _pace(history):
    """Median seconds per epoch, the first (compiling) epoch left out; None if unknown."""
    seconds = [r["epoch_seconds"] for r in history[1:] if "epoch_seconds" in r]
    return round(float(np.median(seconds)), 2) if seconds else None


# === report: every run, finished or not, from the device's folders ===


REPORT_KEYS = (("val_knn_accuracy", "kNN (monitor)"), ("mask_confidence", "mask conf."),
               ("mask_foreground_iou", "mask IoU"))


def report(device_dirs, bundle_dir, results_root, output_path):
    """Writes `<output_path>.{md,json,png}`: each run's monitors at matched epochs
    (the runs share one learning-rate schedule, so epoch e of one is epoch e of
    another), the final evaluation of finished runs, and each run's pace. Where a
    run's folder is in several `device_dirs`, the one with most epochs counts (its
    pace is that of how it ran there: alone or side by side). Finished records are
    filed as quality.py reads them (`results_root/<dataset>/<row>__seed_<s>.json`),
    unfinished histories next to them as `<row>__seed_<s>.partial.json`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(bundle_dir, "runs.json")) as f:
        bundle = json.load(f)
    runs = []
    for entry in bundle["runs"]:
        name = run_name(entry)
        histories = [(_history(os.path.join(d, name)), d) for d in device_dirs]
        history, source = max(histories, key=lambda h: len(h[0]))
        paces = {}  # a folder copied from the same machine repeats a history: once
        for h, d in histories:
            if h and all(h != other for other, seen in histories if seen in paces):
                paces[d] = _pace(h)
        record = next((os.path.join(d, name + ".json") for d in device_dirs
                       if os.path.exists(os.path.join(d, name + ".json"))), None)
        results = None
        if record:
            with open(record) as f:
                results = json.load(f)["results"]
            shutil.copy(record, filed_path(results_root, entry))
        elif history:
            with open(filed_path(results_root, entry, ".partial.json"), "w") as f:
                json.dump({key: entry[key] for key in ("row", "objective", "masking", "seed", "settings")}
                          | {"finished": False, "epochs_done": len(history), "history": history,
                             "commit": bundle["commit"]}, f, indent=2, sort_keys=True)
        runs.append({"name": name, "dataset": entry["dataset"], "row": entry["row"],
                     "epochs": entry["settings"]["epochs"], "epochs_done": len(history),
                     "finished": results is not None, "results": results, "source": source,
                     "paces": paces, "history": history})
    lines_masks = []
    monitored = sorted({r["epoch"] for run in runs for r in run["history"] if "val_knn_accuracy" in r})
    lines = [
        "# The matrix at 10x the CPU budget, on a lent GPU (partial)",
        "",
        f"Written by `benchmarks/long_budget.py --mode=report` from the device runs of commit "
        f"`{bundle['commit']}`: SimCLR, seed 0, the CPU matrix's settings but "
        f"{runs[0]['epochs']} epochs (x 78 steps) per run, JAX on one NVIDIA H200 (views made on the "
        "GPU by `benchmarks/jax_views.py`). Monitors every 20 epochs: kNN (k=20) of a 2000-image "
        "subsample of the training split against the test split, and the masks' confidence and "
        "foreground IoU on 500 test images. All runs share one schedule (warm-up, cosine over the "
        "200 epochs), so a column compares the runs at the same point of it.",
        "",
        "| dataset | row | epochs done | " + " | ".join(str(e) for e in monitored) + " |",
        "|---|---|---|" + "---|" * len(monitored),
    ]
    for key, title in REPORT_KEYS:
        for run in runs:
            values = {r["epoch"]: r.get(key) for r in run["history"]}
            if not any(values.get(e) is not None for e in monitored):
                continue
            cells = ["%.3f" % values[e] if values.get(e) is not None else "" for e in monitored]
            lines.append(f"| {run['dataset']} | {run['row']}: {title} | {run['epochs_done']}"
                         f"{' (finished)' if run['finished'] else ''} | " + " | ".join(cells) + " |")
    lines += ["", "Finished runs, final evaluation (as in the CPU matrix's tables):", "",
              "| dataset | row | linear probe | kNN | untrained probe / kNN | only-fg | mixed-same | "
              "mixed-rand | only-bg |", "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        if run["finished"]:
            r = run["results"]
            lines.append(
                f"| {run['dataset']} | {run['row']} | {r['linear_probe_accuracy']:.3f} | {r['knn_accuracy']:.3f} | "
                f"{r['untrained_linear_probe_accuracy']:.3f} / {r['untrained_knn_accuracy']:.3f} | "
                f"{r['background_only_fg_accuracy']:.3f} | {r['background_mixed_same_accuracy']:.3f} | "
                f"{r['background_mixed_rand_accuracy']:.3f} | {r['background_only_bg_accuracy']:.3f} |")
    lines += ["", "Pace (median seconds per 78-step epoch, the compiling first epoch left out), per "
              "device folder the run ran in:", ""]
    for run in runs:
        lines.append(f"- {run['name']}: " + ", ".join(f"{p} s in {os.path.basename(d)}" for d, p in run["paces"].items()))
    with open(output_path + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(output_path + ".json", "w") as f:
        json.dump({"commit": bundle["commit"], "runs": [{k: v for k, v in run.items() if k != "history"}
                                                        for run in runs]}, f, indent=2, sort_keys=True)
    import quality

    for run in runs:
        masks = os.path.join(run["source"], run["name"], "masks")
        if os.path.isdir(masks):
            picture = f"{output_path}_masks_{run['dataset']}_{run['row']}.png"
            quality.plot_masks_over_epochs(masks, picture, max_epochs=6)
            lines_masks.append(f"- `{os.path.basename(picture)}`: the masks of {run['name']} over epochs.")
    with open(output_path + ".md", "a") as f:
        f.write("\nMask pictures (the 8 test images of every run, masks over epochs):\n\n"
                + "\n".join(lines_masks) + "\n")
    fig, axes = plt.subplots(1, len(REPORT_KEYS), figsize=(14, 3.8))
    for ax, (key, title) in zip(axes, REPORT_KEYS):
        for run in runs:
            points = [(r["epoch"] * 78, r[key]) for r in run["history"] if r.get(key) is not None]
            if points:
                style = "-" if run["dataset"].endswith("shortcut") else "--"
                ax.plot(*zip(*points), style, marker="o", markersize=3,
                        label=f"{run['dataset']} {run['row']}" + ("" if run["finished"] else " (stopped)"))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training steps")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(output_path + ".png", dpi=110)
    plt.close(fig)
    logging.info("Wrote %s.{md,json,png}", output_path)


# === tables (here) ===


def tables(tarball, bundle_dir, work_root, results_root, output_dir):
    """Files the device's records where quality.py finds them and writes its tables,
    one per dataset (`quality_long_budget_<dataset>.*`). Only finished runs count:
    a run whose record is missing is left out of the table, never retrained here."""
    import quality

    with open(os.path.join(bundle_dir, "runs.json")) as f:
        entries = json.load(f)["runs"]
    extracted = os.path.join(work_root, "device")
    shutil.rmtree(extracted, ignore_errors=True)
    os.makedirs(extracted)
    with tarfile.open(tarball) as tar:
        tar.extractall(extracted, filter="data")
    device = open(os.path.join(extracted, "device.txt")).read().strip() if os.path.exists(
        os.path.join(extracted, "device.txt")) else "not recorded"
    by_dataset = {}
    for entry in entries:
        name = run_name(entry)
        source = os.path.join(extracted, name + ".json")
        if not os.path.exists(source):
            logging.warning("%s did not finish on the device: left out of the tables.", name)
            continue
        dataset = entry["dataset"]
        work_dir = os.path.join(work_root, dataset)
        results_dir = os.path.dirname(filed_path(results_root, entry))
        os.makedirs(work_dir, exist_ok=True)
        link = os.path.join(work_dir, "results")
        if os.path.islink(link) or not os.path.exists(link):
            if os.path.islink(link):
                os.remove(link)
            os.symlink(os.path.abspath(results_dir), link)
        shutil.copy(source, filed_path(results_root, entry))
        masks = os.path.join(extracted, name, "masks")
        if os.path.isdir(masks):
            target = os.path.join(work_dir, entry["row"], f"seed_{entry['seed']}", "masks")
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(masks, target)
        by_dataset.setdefault(dataset, []).append(entry)
    for dataset, done in by_dataset.items():
        settings = done[0]["settings"]
        base = {k: settings[k] for k in (*MATRIX_SETTINGS, "dataset", "epochs", "monitor_every")}
        objectives = sorted({e["objective"] for e in done})
        maskings = [m for m in quality.MASKINGS if any(e["masking"] == m for e in done)]
        seeds = sorted({e["seed"] for e in done})
        work_dir = os.path.join(work_root, dataset)
        planned = quality.plan(objectives, maskings, seeds, base, work_dir)
        missing = [r["row"] for r in planned if quality.load_finished(r) is None]
        if missing:
            raise ValueError(f"{dataset}: no device record with the planned settings for {missing}; "
                             "quality.py would train them here. Make the table by hand.")
        notes = os.path.join(work_dir, "notes.md")
        with open(notes, "w") as f:
            f.write(f"Trained on the GPU ({device or 'not recorded'}) with the JAX backend by "
                    f"`benchmarks/long_budget.py`, {settings['epochs']} epochs per run "
                    f"({settings['epochs'] / 20:g}x the CPU matrix's 20); the views were made on the "
                    "GPU by `benchmarks/jax_views.py` (the package's augmentation in JAX, tested equal to "
                    "it). The runs ran side by side on one GPU, so their times are not their costs. "
                    "The table's `backend` is the one that wrote it.\n")
        quality.run_benchmark(objectives, maskings, seeds, base, work_dir, output_dir,
                              mask_row="simclr_adios",
                              tag=f"long_budget_{dataset}", notes=notes)


class _WithoutTensorFlow(importlib.abc.MetaPathFinder):
    """Finds no `tensorflow*` module, as where it is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
            raise ModuleNotFoundError(f"No module named {name!r} (long_budget.py --mode=run works without it)")
        return None


def _device_name():
    import jax

    return str(jax.devices()[0].device_kind)


def main(argv):
    del argv
    if FLAGS.mode == "prepare":
        import quality

        runs = plan_runs(FLAGS.runs, [int(s) for s in FLAGS.seeds], FLAGS.epochs,
                         FLAGS.monitor_every, FLAGS.work_root, quality.parse_set(FLAGS.set))
        prepare(runs, FLAGS.bundle_dir)
    elif FLAGS.mode == "device":
        device(FLAGS.bundle_dir, FLAGS.output_dir, FLAGS.limit_seconds,
               None if FLAGS.indices is None else [int(i) for i in FLAGS.indices])
    elif FLAGS.mode == "report":
        report(FLAGS.device_dirs, FLAGS.bundle_dir, FLAGS.results_root, FLAGS.report_path)
    elif FLAGS.mode == "tables":
        if not FLAGS.tarball:
            raise app.UsageError("--mode=tables needs --tarball.")
        tables(FLAGS.tarball, FLAGS.bundle_dir, FLAGS.work_root, FLAGS.results_root, FLAGS.tables_dir)
    else:
        if not FLAGS.output_dir:
            raise app.UsageError("--mode=run needs --output_dir.")
        # The GPU machine has no TensorFlow: make it uninstalled here too, so a
        # local run proves that the device run needs none.
        sys.meta_path.insert(0, _WithoutTensorFlow())
        if FLAGS.index is None:
            raise app.UsageError("--mode=run needs --index.")
        run_one(FLAGS.bundle_dir, FLAGS.index, FLAGS.output_dir)


if __name__ == "__main__":
    define_flags()
    flags.mark_flag_as_required("mode")
    app.run(main)
