"""Peak memory of a training run against the size of its dataset: streamed vs in memory.

    python benchmarks/streaming_memory.py                      # 2k vs 20k images, 64 px
    python benchmarks/streaming_memory.py --sizes=300,3000     # quick

Writes the same random images (two classes, `--image_size` px PNGs) to disk
twice per size: as an image folder (`--dataset=folder:...`, streamed from the
files through `tf.data`) and as one `.npz` file (`--dataset=npz:...`, which is
an in-memory array source, for contrast). Each run is one `keras_adios.train`
process (1 epoch of `--steps`, then the whole evaluation: features of every
training and held-out image, linear probe, kNN); its peak resident memory is
the child's `ru_maxrss`. A streamed run's peak must not grow with the number
of images (only its features do: 16 floats per image here); an in-memory
run's grows by at least the images' bytes.

Results: `results/streaming_memory.{md,json}`.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

_SIZES = flags.DEFINE_list("sizes", ["2000", "20000"], "Dataset sizes (images) to compare.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 64, "Side of the square images written.")
_STEPS = flags.DEFINE_integer("steps", 10, "Training steps (one epoch).")
_OUTPUT = flags.DEFINE_string(
    "output", os.path.join(os.path.dirname(__file__), "results", "streaming_memory"),
    "Results path without extension (.md and .json are written).",
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_FLAGS = [
    "--epochs=1", "--batch_size=32", "--crop_size=32", "--encoder_widths=8,16", "--mask_filters=8",
    "--num_masks=2", "--hidden_dim=32", "--projection_dim=16", "--probe_epochs=2",
    "--num_vis_images=2", "--knn_k=5", "--holdout_fraction=0.1",
]


def write_images(root, count, size, seed=0):
    """Writes `count` PNGs (two classes) to `root/folder/<class>/` and the same arrays to `root/data.npz`."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), np.uint8)
    labels = np.arange(count) % 2
    for name in ("a", "b"):
        os.makedirs(os.path.join(root, "folder", name), exist_ok=True)
    for i in range(count):
        images[i] = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        images[i, ..., labels[i]] //= 2  # a little class signal
        Image.fromarray(images[i]).save(os.path.join(root, "folder", "ab"[labels[i]], f"{i}.png"))
    np.savez(os.path.join(root, "data.npz"), images=images, labels=labels)
    return images.nbytes


def measure(sizes, image_size, steps, work_dir, shuffle_buffer=None):
    """Peak RSS (MiB) of streamed and in-memory runs per dataset size.

    `shuffle_buffer` (decoded images; None: the CLI's default) is the one part
    of a streamed run's memory that grows with the dataset until it is full.
    """
    rows = []
    for count in sizes:
        root = os.path.join(work_dir, str(count))
        image_bytes = write_images(root, count, image_size)
        row = {"images": count, "image_mb": image_bytes / 2**20}
        for kind, dataset in (("folder", f"folder:{root}/folder"), ("npz", f"npz:{root}/data.npz")):
            row[kind] = run_child(dataset, os.path.join(root, f"run_{kind}"), steps, shuffle_buffer)
        rows.append(row)
    return rows


def run_child(dataset, output_dir, steps, shuffle_buffer=None):
    """One training process; returns {"peak_rss_mb", "seconds"}."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    args = [sys.executable, "-m", "keras_adios.train", f"--dataset={dataset}", f"--output_dir={output_dir}",
            f"--steps_per_epoch={steps}", *TRAIN_FLAGS]
    if shuffle_buffer is not None:
        args.append(f"--shuffle_buffer={shuffle_buffer}")
    start = time.time()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{dataset}: training failed (rc {proc.returncode}):\n{err[-3000:]}")
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": round(time.time() - start, 1)}


def write_results(rows, output, meta):
    first, last = rows[0], rows[-1]
    growth = {kind: round(last[kind]["peak_rss_mb"] - first[kind]["peak_rss_mb"], 1) for kind in ("folder", "npz")}
    with open(output + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows, "growth_mb": growth}, f, indent=2)
    lines = [
        "# Peak memory of a training run vs dataset size",
        "",
        f"Command: `python benchmarks/streaming_memory.py --sizes={','.join(str(r['images']) for r in rows)}"
        f" --image_size={meta['image_size']}` ({meta['date']}, commit {meta['commit']}, TensorFlow backend, "
        "2-core CPU). One `keras_adios.train` process per row: 1 epoch of "
        f"{meta['steps']} steps, then the whole evaluation (features of every image, probe, kNN).",
        "",
        "| images | their bytes (MiB) | folder, streamed: peak RSS (MiB) | npz, in memory: peak RSS (MiB) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['images']} | {row['image_mb']:.0f} | {row['folder']['peak_rss_mb']:.0f} "
                     f"({row['folder']['seconds']:.0f} s) | {row['npz']['peak_rss_mb']:.0f} ({row['npz']['seconds']:.0f} s) |")
    lines.append("")
    for a, b in zip(rows, rows[1:]):
        lines.append(
            f"From {a['images']} to {b['images']} images: streamed "
            f"**{b['folder']['peak_rss_mb'] - a['folder']['peak_rss_mb']:+.0f} MiB**, in memory "
            f"{b['npz']['peak_rss_mb'] - a['npz']['peak_rss_mb']:+.0f} MiB (the images themselves: "
            f"{b['image_mb'] - a['image_mb']:+.0f} MiB)."
        )
    lines += [
        "",
        "A streamed run holds the pretraining shuffle buffer (`--shuffle_buffer`, "
        "10,000 decoded images by default) and the features (16 floats per "
        "image here), so its memory grows until the dataset fills the buffer and stays flat after.",
    ]
    with open(output + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    return growth


def main(argv):
    del argv
    sizes = [int(s) for s in _SIZES.value]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    meta = {"image_size": _IMAGE_SIZE.value, "steps": _STEPS.value, "commit": commit,
            "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as work_dir:
        rows = measure(sizes, _IMAGE_SIZE.value, _STEPS.value, work_dir)
    os.makedirs(os.path.dirname(_OUTPUT.value), exist_ok=True)
    growth = write_results(rows, _OUTPUT.value, meta)
    print(json.dumps({"rows": rows, "growth_mb": growth}, indent=2))


if __name__ == "__main__":
    app.run(main)
