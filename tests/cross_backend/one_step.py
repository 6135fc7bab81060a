"""Runs one ADIOS step per configuration on the current backend; saves the weights.

Usage: KERAS_BACKEND=<backend> python one_step.py OUTPUT.npz

Weights come from a NumPy generator (not the backend's initialisers) and the
ADIOS-s slots are fixed, so every backend starts from the same state and sees
the same batch; `test_one_step_matches_across_backends.py` compares results.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import keras_adios  # noqa: E402
from keras_adios.layers import MaskGenerator  # noqa: E402

SIZE, BATCH, NUM_MASKS = 16, 6, 3
OBJECTIVES = {
    "simclr": lambda: keras_adios.objectives.SimCLR(temperature=0.5, hidden_dim=16, projection_dim=8),
    "byol": lambda: keras_adios.objectives.BYOL(
        hidden_dim=16, projection_dim=8, predictor_hidden_dim=16, total_steps=10
    ),
    "simsiam": lambda: keras_adios.objectives.SimSiam(
        hidden_dim=16, projection_dim=8, predictor_hidden_dim=8
    ),
    "vicreg": lambda: keras_adios.objectives.VICReg(hidden_dim=16, projection_dim=8),
}


class FixedSlotADIOS(keras_adios.ADIOS):
    """ADIOS-s with deterministic slots (image b uses slot b mod N)."""

    def _draw_slots(self, batch_size):
        if not self.single_mask:
            return None
        return ops.mod(ops.arange(batch_size), self.num_masks)


def build(objective, single_mask):
    encoder = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
        ]
    )
    masker = MaskGenerator(num_masks=NUM_MASKS, filters=8, norm="group")
    model = FixedSlotADIOS(
        encoder, masker, objective=OBJECTIVES[objective](), single_mask=single_mask,
        num_classes=3,
    )
    rng = np.random.default_rng(0)
    values = []
    for v in model.weights:
        shape = tuple(v.shape)
        if "moving_variance" in v.path:
            values.append(np.ones(shape, "float32"))
        elif "moving_mean" in v.path or "schedule_steps" in v.path:
            values.append(np.asarray(ops.convert_to_numpy(v)))
        else:
            values.append(rng.normal(0.0, 0.3, size=shape).astype(v.dtype))
    model.set_weights(values)
    if objective == "byol":  # the target starts as a copy of the online network
        obj = model.objective
        obj.target_encoder.set_weights(model.encoder.get_weights())
        obj.target_projector.set_weights(obj.projector.get_weights())
    model.compile(
        encoder_optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        masker_optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        probe_optimizer=keras.optimizers.SGD(0.1),
    )
    return model


def main(path):
    rng = np.random.default_rng(1)
    x1 = rng.normal(size=(BATCH, SIZE, SIZE, 3)).astype("float32")
    x2 = rng.normal(size=(BATCH, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, 3, BATCH).astype("int32")
    out = {}
    for objective in OBJECTIVES:
        for single_mask in (False, True):
            model = build(objective, single_mask)
            name = f"{objective}_{'adios_s' if single_mask else 'adios'}"
            for i, v in enumerate(model.weights):
                if "seed_generator" not in v.path:
                    out[f"init:{name}/{i:03d}:{v.path}"] = np.asarray(ops.convert_to_numpy(v))
            logs = model.train_on_batch((x1, x2), y, return_dict=True)
            for i, v in enumerate(model.weights):
                if "seed_generator" not in v.path:
                    out[f"{name}/{i:03d}:{v.path}"] = np.asarray(ops.convert_to_numpy(v))
            for key, value in logs.items():
                out[f"{name}/log:{key}"] = np.asarray(float(value))
    np.savez(path, **out)
    print(f"{keras.backend.backend()}: wrote {len(out)} arrays to {path}")


if __name__ == "__main__":
    main(sys.argv[1])
