"""One ADIOS step on 1 JAX device vs. `keras.distribution.DataParallel` on 2.

Usage: python jax_data_parallel_step.py OUTPUT.npz

Two host CPU devices come from `--xla_force_host_platform_device_count=2`,
which must be set before JAX is imported (hence a separate process). Under
DataParallel the jitted step sees the global batch sharded over the devices,
so the SimCLR negatives and the BatchNorm statistics of the BYOL/SimSiam
heads are global without any extra code: the results must match one device.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
)

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cross_backend"))
import one_step  # noqa: E402

GLOBAL_BATCH = 6
CONFIGS = (("simclr", False), ("simsiam", True))  # BYOL: see the TF tests


def main(path):
    assert len(jax.devices()) == 2, jax.devices()
    rng = np.random.default_rng(1)
    size = one_step.SIZE
    x1 = rng.normal(size=(GLOBAL_BATCH, size, size, 3)).astype("float32")
    x2 = rng.normal(size=(GLOBAL_BATCH, size, size, 3)).astype("float32")
    y = rng.integers(0, 3, GLOBAL_BATCH).astype("int32")
    out = {}
    devices = keras.distribution.list_devices()
    for prefix, distribution in (
        ("one", None),
        ("two", keras.distribution.DataParallel(devices=devices)),
    ):
        keras.distribution.set_distribution(distribution)
        for objective, single_mask in CONFIGS:
            config = f"{objective}_{'adios_s' if single_mask else 'adios'}"
            model = one_step.build(objective, single_mask)
            if prefix == "one":
                for i, v in enumerate(model.weights):
                    if "seed_generator" not in v.path:
                        out[f"{config}/init/w{i:03d}"] = np.asarray(keras.ops.convert_to_numpy(v))
            history = model.fit(
                (x1, x2), y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0
            ).history
            kernel = model.encoder.trainable_variables[0]
            out[f"{config}/sharding/{prefix}"] = np.asarray(str(kernel.value.sharding))
            for i, v in enumerate(model.weights):
                if "seed_generator" not in v.path:
                    out[f"{config}/{prefix}/w{i:03d}"] = np.asarray(keras.ops.convert_to_numpy(v))
            for key, values in history.items():
                out[f"{config}/{prefix}/log:{key}"] = np.asarray(values[-1], "float64")
    np.savez(path, **out)
    print(f"wrote {len(out)} arrays to {path}")


if __name__ == "__main__":
    main(sys.argv[1])
