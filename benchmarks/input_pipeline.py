"""Input-pipeline throughput per CPU core against what the ADIOS step asks for.

    python benchmarks/input_pipeline.py                  # 32 and 96 px, 1 and 2 cores
    python benchmarks/input_pipeline.py --images=256     # quick

For each image size, writes `--images` random JPEGs (two classes) to a temporary
image folder at the preset's load size (32 px for the `cifar10` preset, 110 px
for the `imagenet100s` 96 px preset) and times `make_pretrain_dataset` (read,
decode, two augmented views, batch of 256) with `tf.data`'s private thread pool
limited to 1 and to all cores, from the folder (streamed) and from arrays in
memory. One pass is discarded (warm-up and file cache), then the median of
`--rounds` passes. The step's demand (images per second it consumes) comes
from the same run: the ADIOS step (SimCLR, N=4, SmallResNet 32-64-128, batch
256 at 32 px; ResNet-18 at 96 px is left to `throughput.py`) timed on the same
cores.

Results: `results/input_pipeline.{md,json}`.
"""

import json
import os
import subprocess
import tempfile
import time

import numpy as np
from absl import app, flags

_IMAGES = flags.DEFINE_integer("images", 2048, "Images written per size.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Timed passes per configuration.")
_OUTPUT = flags.DEFINE_string(
    "output", os.path.join(os.path.dirname(__file__), "results", "input_pipeline"),
    "Results path without extension (.md and .json are written).",
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: (crop size, preset, load size of the files)
SIZES = ((32, "cifar10", 32), (96, "imagenet100s", 110))
BATCH = 256


def write_folder(root, count, size, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in ("a", "b"):
        os.makedirs(os.path.join(root, name), exist_ok=True)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(root, "ab"[i % 2], f"{i}.jpg"), quality=90)


def images_per_second(dataset, threads, rounds):
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    dataset = dataset.with_options(options)
    times = []
    for _ in range(rounds + 1):
        start, count = time.perf_counter(), 0
        for (view1, _), _ in dataset:
            count += int(view1.shape[0])
        times.append(time.perf_counter() - start)
    return count / float(np.median(times[1:]))


def step_images_per_second(image_size, rounds):
    """The ADIOS step's demand: images per second at batch 256 (SmallResNet, N=4, SimCLR)."""
    import keras

    import keras_adios

    keras.utils.set_random_seed(0)
    encoder = keras_adios.encoders.SmallResNet(input_shape=(image_size, image_size, 3), widths=(32, 64, 128))
    model = keras_adios.ADIOS(
        encoder, keras_adios.layers.MaskGenerator(num_masks=4, filters=32),
        objective=keras_adios.objectives.SimCLR(), seed=0,
    )
    model.compile(encoder_optimizer=keras.optimizers.SGD(0.01), masker_optimizer=keras.optimizers.SGD(0.01))
    rng = np.random.default_rng(0)
    views = tuple(rng.normal(size=(BATCH, image_size, image_size, 3)).astype("float32") for _ in range(2))
    model.train_on_batch(views)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        model.train_on_batch(views)
        times.append(time.perf_counter() - start)
    return BATCH / float(np.median(times))


def main(argv):
    del argv
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from keras_adios import data as data_lib

    cores = os.cpu_count()
    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        for crop, preset, load in SIZES:
            folder = os.path.join(work_dir, str(crop))
            write_folder(folder, _IMAGES.value, load)
            config = data_lib.AugmentationConfig.preset(preset, image_size=crop)
            streamed = data_lib.load_image_folder(folder)
            in_memory = tuple(np.stack(a) for a in zip(*streamed.as_numpy_iterator()))
            row = {"crop": crop, "preset": preset, "file_size": load}
            for source_name, source in (("folder", streamed), ("arrays", in_memory)):
                dataset = data_lib.make_pretrain_dataset(source, config=config, batch_size=BATCH, seed=0)
                for threads in sorted({1, cores}):
                    row[f"{source_name}_{threads}"] = round(images_per_second(dataset, threads, _ROUNDS.value), 1)
            if crop == 32:
                row["step_demand"] = round(step_images_per_second(crop, _ROUNDS.value), 1)
            rows.append(row)
            print(json.dumps(row))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    meta = {"images": _IMAGES.value, "rounds": _ROUNDS.value, "cores": cores, "commit": commit,
            "date": time.strftime("%Y-%m-%d")}
    os.makedirs(os.path.dirname(_OUTPUT.value), exist_ok=True)
    with open(_OUTPUT.value + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=2)
    lines = [
        "# Input pipeline: image pairs per second per core vs the step's demand",
        "",
        f"Command: `python benchmarks/input_pipeline.py --images={_IMAGES.value}` ({meta['date']}, commit "
        f"{commit}, {cores} CPU cores, TensorFlow). `make_pretrain_dataset` with `tf.data`'s private thread "
        "pool limited to the given cores: read + decode JPEG (folder) or gather (arrays), two augmented "
        f"views, batch {BATCH}; median of {_ROUNDS.value} passes after one warm-up pass.",
        "",
        f"| crop (preset, file size) | folder, 1 core | folder, {cores} cores | arrays, 1 core | arrays, {cores} cores |"
        " ADIOS step's demand on this CPU |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        demand = f"{r['step_demand']:.0f} img/s" if "step_demand" in r else "-"
        lines.append(f"| {r['crop']} px ({r['preset']}, {r['file_size']} px JPEG) | {r['folder_1']:.0f} | "
                     f"{r[f'folder_{cores}']:.0f} | {r['arrays_1']:.0f} | {r[f'arrays_{cores}']:.0f} | {demand} |")
    with open(_OUTPUT.value + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    app.run(main)
