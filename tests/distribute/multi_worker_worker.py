"""One worker of a 2-worker MultiWorkerMirroredStrategy run on 127.0.0.1.

Usage: python multi_worker_worker.py OUT_DIR INDEX PORT0 PORT1

1. Probes Keras itself with a plain `keras.Sequential` (no keras_adios code):
   unpatched `fit` must still fail with the two known errors
   (keras-team/keras#20585); each error message is recorded.
2. Trains a small ADIOS-s SimCLR model for 2 epochs of 2 steps; its
   `compile` applies `keras_adios.distribute.multi_worker_patch`.
3. Saves: every worker writes its weights to OUT_DIR/worker<INDEX>.npz and
   a JSON report; the chief writes OUT_DIR/chief.weights.h5, the other worker
   writes its checkpoint to a temporary directory and deletes it (the
   recommended multi-worker saving recipe).
"""

import json
import os
import shutil
import sys
import tempfile

OUT_DIR, INDEX, PORT0, PORT1 = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["TF_CONFIG"] = json.dumps(
    {
        "cluster": {"worker": [f"127.0.0.1:{PORT0}", f"127.0.0.1:{PORT1}"]},
        "task": {"type": "worker", "index": INDEX},
    }
)

import keras_adios.distribute as kd  # noqa: E402

strategy = kd.get_strategy(multi_worker=True, verbose=False)  # before any TF op

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_adios  # noqa: E402
from keras_adios.distribute import multi_worker_patch  # noqa: E402

GLOBAL_BATCH, SIZE, STEPS = 8, 16, 2


def dataset(images=True):
    rng = np.random.default_rng(0)  # the same global data on both workers
    n = GLOBAL_BATCH * STEPS
    if images:
        x1 = rng.normal(size=(n, SIZE, SIZE, 3)).astype("float32")
        x2 = rng.normal(size=(n, SIZE, SIZE, 3)).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices((x1, x2))
    else:
        ds = tf.data.Dataset.from_tensor_slices(
            (rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 1)).astype("float32"))
        )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.batch(GLOBAL_BATCH, drop_remainder=True).with_options(options)


def probe_keras_bug():
    """Unpatched Keras 3.15 `fit` under multi-worker MWMS; returns the errors."""
    errors = []
    with strategy.scope():
        probe = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        probe.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    for attempt in range(2):
        try:
            probe.fit(dataset(images=False), epochs=1, verbose=0)
            errors.append(None)
        except Exception as e:  # the known Keras bugs
            errors.append(f"{type(e).__name__}: {e}"[:600])
        if attempt == 0:  # then get past bug 1 to expose bug 2
            multi_worker_patch.patch_symbolic_build(probe)
    return errors


def main():
    report = {"num_replicas": strategy.num_replicas_in_sync}
    report["patch_applied_before"] = multi_worker_patch.is_applied()
    report["keras_errors"] = probe_keras_bug()
    with strategy.scope():
        encoder = keras.Sequential(
            [
                keras.Input((SIZE, SIZE, 3)),
                keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
                keras.layers.GlobalAveragePooling2D(),
            ]
        )
        model = keras_adios.ADIOS(
            encoder,
            keras_adios.layers.MaskGenerator(num_masks=3, filters=8, norm="group"),
            objective=keras_adios.objectives.SimCLR(hidden_dim=16, projection_dim=8),
            single_mask=True,
            seed=1,
        )
        model.compile(
            encoder_optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            masker_optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        )
    report["patch_applied_after_compile"] = multi_worker_patch.is_applied(model)
    initial = [np.asarray(w) for w in model.get_weights()]
    history = model.fit(dataset(), epochs=2, verbose=0).history
    report["history"] = {k: [float(x) for x in v] for k, v in history.items()}
    weights = model.get_weights()
    report["changed"] = any(not np.allclose(a, b) for a, b in zip(initial, weights))
    np.savez(os.path.join(OUT_DIR, f"worker{INDEX}.npz"), *weights)
    if kd.is_chief():
        model.save_weights(os.path.join(OUT_DIR, "chief.weights.h5"))
    else:
        tmp = tempfile.mkdtemp()
        model.save_weights(os.path.join(tmp, "worker.weights.h5"))
        shutil.rmtree(tmp)
    report["is_chief"] = kd.is_chief()
    with open(os.path.join(OUT_DIR, f"worker{INDEX}.json"), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
