"""Saves an ADIOS model on this backend and loads the files other backends saved.

Usage: KERAS_BACKEND=<backend> python save_load.py WORKDIR

Writes WORKDIR/<backend>.keras (unless it exists) and, for every WORKDIR/<other>.keras present,
WORKDIR/<other>_loaded_on_<backend>.npz with the loaded model's encoder
features and masks on a fixed batch. WORKDIR/<backend>.npz holds the saving
model's own outputs. `test_one_step_matches_across_backends.py` compares them.
"""

import glob
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import keras_adios  # noqa: E402


def outputs(model):
    x = np.random.default_rng(5).normal(size=(4, 16, 16, 3)).astype("float32")
    return {
        "features": np.asarray(ops.convert_to_numpy(model.encoder(x))),
        "masks": np.asarray(ops.convert_to_numpy(model.masker(x))),
    }


def main(workdir):
    backend = keras.backend.backend()
    if not os.path.exists(os.path.join(workdir, f"{backend}.keras")):
        save(workdir, backend)
    for path in sorted(glob.glob(os.path.join(workdir, "*.keras"))):
        other = os.path.basename(path)[: -len(".keras")]
        if other == backend:
            continue
        loaded = keras.models.load_model(path)
        np.savez(os.path.join(workdir, f"{other}_loaded_on_{backend}.npz"), **outputs(loaded))
    print(f"{backend}: saved and loaded in {workdir}")


def save(workdir, backend):
    encoder = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling2D(),
        ]
    )
    model = keras_adios.ADIOS(
        encoder,
        keras_adios.layers.MaskGenerator(num_masks=3, filters=8),
        objective=keras_adios.objectives.BYOL(hidden_dim=16, projection_dim=8, predictor_hidden_dim=16),
        single_mask=True,
        num_classes=3,
    )
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        masker_optimizer=keras.optimizers.Adam(1e-3),
    )
    rng = np.random.default_rng(1)
    x1, x2 = (rng.normal(size=(4, 16, 16, 3)).astype("float32") for _ in range(2))
    model.fit((x1, x2), rng.integers(0, 3, 4), batch_size=4, epochs=1, verbose=0)
    model.save(os.path.join(workdir, f"{backend}.keras"))
    np.savez(os.path.join(workdir, f"{backend}.npz"), **outputs(model))


if __name__ == "__main__":
    main(sys.argv[1])
