"""One ADIOS step on 1 device vs. 2 MirroredStrategy replicas (TensorFlow).

Usage: python mirrored_step.py OUTPUT.npz CONFIG [CONFIG ...]

CONFIG is `<objective>_<variant>` with objective in simclr/byol/simsiam/vicreg and
variant `adios` (all N masks) or `adios_s` (fixed slots), or one of the
probes `slots` (ADIOS-s draws per replica), `entropy` (SimCLR-ADIOS-s with
`entropy_weight=0.5`), `local_negatives`
(`SimCLR(cross_replica_negatives=False)`) and `jit` (the TPU-style step:
`jit_compile=True`, static shapes, `steps_per_execution=2`, on the default
strategy).

Runs in its own process because the two logical CPU devices must be
configured before TensorFlow initialises its devices. Weights come from
`tests/cross_backend/one_step.py` (NumPy-initialised, encoder without
BatchNorm, GroupNorm masker, fixed ADIOS-s slots). BYOL/SimSiam heads have
BatchNorm: both runs use synchronised BatchNorm
(`keras_adios.distribute.use_sync_batchnorm`) so that the statistics are
those of the global batch and the two runs must agree exactly.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cross_backend"))
import one_step  # noqa: E402

import keras_adios  # noqa: E402

GLOBAL_BATCH = 6  # 3 images per replica; a multiple of one_step.NUM_MASKS


def data(seed=1, batch=GLOBAL_BATCH, repeat=1):
    rng = np.random.default_rng(seed)
    size = one_step.SIZE
    x1 = rng.normal(size=(batch * repeat, size, size, 3)).astype("float32")
    x2 = rng.normal(size=(batch * repeat, size, size, 3)).astype("float32")
    y = rng.integers(0, 3, batch * repeat).astype("int32")
    return tf.data.Dataset.from_tensor_slices(((x1, x2), y)).batch(batch, drop_remainder=True)


def build(objective, single_mask, strategy, sync_bn=True, **objective_kwargs):
    with strategy.scope():
        if objective_kwargs:
            original = one_step.OBJECTIVES[objective]
            one_step.OBJECTIVES[objective] = lambda: original().__class__.from_config(
                {**original().get_config(), **objective_kwargs}
            )
        try:
            model = one_step.build(objective, single_mask)
        finally:
            if objective_kwargs:
                one_step.OBJECTIVES[objective] = original
        if sync_bn and objective != "simclr":
            keras_adios.distribute.use_sync_batchnorm(model)
    return model


def snapshot(model, prefix, out, history=None):
    for i, v in enumerate(model.weights):
        if "seed_generator" not in v.path:
            out[f"{prefix}/w{i:03d}"] = np.asarray(keras.ops.convert_to_numpy(v))
    for key, values in (history or {}).items():
        out[f"{prefix}/log:{key}"] = np.asarray(values[-1], "float64")


def run_pair(config, out, mirrored, label=None, entropy_weight=0.0, lean=True, **kwargs):
    objective, variant = config.split("_", 1)
    config = label or config
    single = variant == "adios_s"
    for prefix, strategy in (("one", tf.distribute.get_strategy()), ("two", mirrored)):
        model = build(objective, single, strategy, **kwargs)
        model.entropy_weight = entropy_weight  # read when the step is traced
        model.per_view_backward = lean  # likewise
        if prefix == "one":
            snapshot(model, f"{config}/init", out)
        history = model.fit(data(), epochs=1, verbose=0).history
        snapshot(model, f"{config}/{prefix}", out, history)


def run_slots(out, mirrored):
    """Per-replica ADIOS-s draws, inside the distributed step."""
    with mirrored.scope():
        model = keras_adios.ADIOS(
            one_step.build("simclr", True).encoder,
            keras_adios.layers.MaskGenerator(num_masks=4, filters=8, norm="group"),
            objective=keras_adios.objectives.SimCLR(hidden_dim=8, projection_dim=8),
            single_mask=True,
            seed=3,
        )
    step = tf.function(lambda: mirrored.run(lambda: model._draw_slots(64)))
    for i in range(2):
        values = mirrored.experimental_local_results(step())
        for r, v in enumerate(values):
            out[f"slots/step{i}/replica{r}"] = v.numpy()


def run_jit(out):
    """The TPU-style step: jit_compile, static shapes, steps_per_execution."""
    default = tf.distribute.get_strategy()
    for prefix, jit in (("nojit", False), ("jit", True)):
        model = build("simclr", True, default)
        model.compile(
            encoder_optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            masker_optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            probe_optimizer=keras.optimizers.SGD(0.1),
            jit_compile=jit,
            steps_per_execution=2,
        )
        history = model.fit(data(repeat=4), epochs=1, verbose=0).history
        snapshot(model, f"jit/{prefix}", out, history)


def main(path, configs):
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    out = {}
    for config in configs:
        if config == "slots":
            run_slots(out, mirrored)
        elif config == "jit":
            run_jit(out)
        elif config == "entropy":  # the batch-sum entropy term of the masker
            run_pair("simclr_adios_s", out, mirrored, label=config, entropy_weight=0.5)
        elif config == "joint":  # the encoder phase as one backward through all masked views
            run_pair("simclr_adios", out, mirrored, label=config, lean=False)
        elif config == "local_negatives":
            run_pair(
                "simclr_adios", out, mirrored, label=config, cross_replica_negatives=False
            )
        else:
            run_pair(config, out, mirrored)
    np.savez(path, **out)
    print(f"wrote {len(out)} arrays to {path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
