r"""Pretrain ADIOS on a Cloud TPU (or several GPUs) with `tf.distribute`.

On a TPU VM, unchanged:

```shell
pip install keras-adios   # with tensorflow and tensorflow-datasets
KERAS_BACKEND=tensorflow python examples/tpu_pretrain.py \
    --dataset=imagenet100s --data_dir=gs://MY_BUCKET/tensorflow_datasets \
    --model_dir=gs://MY_BUCKET/adios/run1 --batch_size=1024 --epochs=500
```

`keras_adios.distribute.get_strategy(tpu=...)` returns a `TPUStrategy` when a
TPU is found (`--tpu=local` on a TPU VM, or the TPU name for a TPU node),
else `MirroredStrategy` over all GPUs, else the default strategy. The model
is built and compiled in `strategy.scope()`; the global batch is split over
the replicas, batches have a static shape (`drop_remainder=True`), the step is
XLA-compiled (`--jit_compile`, on by default on TPU) and several steps run
per host call (`--steps_per_execution`). Cross-replica SimCLR negatives and
the loss scaling are automatic; `--sync_bn` switches every BatchNorm to
global statistics. The encoder's weights are saved to
`--model_dir/encoder.weights.h5` (GCS paths work through `tf.io.gfile`).

`--smoke` runs a few steps on tiny synthetic data with the default strategy,
on CPU, in well under a minute.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_string("tpu", None, "TPU name/address, 'local' on a TPU VM; None: auto.")
flags.DEFINE_string("dataset", "shapes32", "keras_adios.data.load_dataset spec (e.g. cifar10).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (may be gs://...).")
flags.DEFINE_string("model_dir", "/tmp/adios_tpu", "Output directory (may be gs://...).")
flags.DEFINE_string("augmentation", None, "AugmentationConfig preset; default: the dataset's.")
flags.DEFINE_enum("objective", "simclr", ["simclr", "byol", "simsiam"], "SSL objective.")
flags.DEFINE_enum("encoder", "resnet18", ["resnet18", "small_resnet"], "Encoder.")
flags.DEFINE_integer("num_masks", 6, "Masks of the mask generator.")
flags.DEFINE_bool("single_mask", False, "ADIOS-s.")
flags.DEFINE_integer("batch_size", 512, "Global batch size.")
flags.DEFINE_integer("epochs", 100, "Epochs.")
flags.DEFINE_float("learning_rate", 0.3, "Encoder learning rate (masker: 0.1).")
flags.DEFINE_bool("jit_compile", None, "XLA-compile the step (default: on for TPU).")
flags.DEFINE_integer("steps_per_execution", 1, "Training steps per host call (e.g. 50 on TPU).")
flags.DEFINE_bool("sync_bn", False, "Synchronised BatchNorm (global statistics).")
flags.DEFINE_bool("smoke", False, "Tiny CPU run on synthetic data, default strategy.")


def make_dataset(global_batch, image_size=None, num_images=None):
    """The two-view pretraining dataset, static batch shapes."""
    import keras_adios

    source = keras_adios.data.load_dataset(
        FLAGS.dataset, data_dir=FLAGS.data_dir, num_images=num_images, image_size=image_size
    )
    preset = FLAGS.augmentation or (
        FLAGS.dataset if FLAGS.dataset.startswith("shapes") else FLAGS.dataset.split(":")[0]
    )
    config = keras_adios.data.AugmentationConfig.preset(preset)
    images, labels = source if isinstance(source, tuple) else (source, None)
    return keras_adios.data.make_pretrain_dataset(
        images, labels, config=config, batch_size=global_batch, drop_remainder=True
    )


def make_model(strategy, image_shape, tiny=False):
    """ADIOS built and compiled in `strategy.scope()`."""
    import keras

    import keras_adios

    with strategy.scope():
        if FLAGS.encoder == "resnet18" and not tiny:
            encoder = keras_adios.encoders.ResNet18(input_shape=image_shape)
        else:
            encoder = keras_adios.encoders.SmallResNet(
                input_shape=image_shape, widths=(16, 32) if tiny else (32, 64, 128)
            )
        masker = keras_adios.layers.MaskGenerator(
            num_masks=FLAGS.num_masks, filters=8 if tiny else 32
        )
        heads = dict(hidden_dim=64, projection_dim=32) if tiny else {}
        objective = {
            "simclr": lambda: keras_adios.objectives.SimCLR(temperature=0.2, **heads),
            "byol": lambda: keras_adios.objectives.BYOL(
                **({**heads, "predictor_hidden_dim": 64} if tiny else {})
            ),
            "simsiam": lambda: keras_adios.objectives.SimSiam(
                **({**heads, "predictor_hidden_dim": 16} if tiny else {})
            ),
        }[FLAGS.objective]()
        model = keras_adios.ADIOS(
            encoder, masker, objective=objective, single_mask=FLAGS.single_mask,
            num_classes=None, seed=0,
        )
        if FLAGS.sync_bn:
            keras_adios.distribute.use_sync_batchnorm(model)
        jit = FLAGS.jit_compile
        if jit is None:
            jit = isinstance(strategy, __import__("tensorflow").distribute.TPUStrategy)
        model.compile(
            encoder_optimizer=keras.optimizers.SGD(FLAGS.learning_rate, momentum=0.9),
            masker_optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            jit_compile=jit,
            steps_per_execution=FLAGS.steps_per_execution,
        )
    return model


def save_encoder(model, model_dir, chief=True):
    """Writes `model_dir/encoder.weights.h5` (local or gs://) on the chief."""
    import tempfile

    import tensorflow as tf

    local = os.path.join(tempfile.mkdtemp(), "encoder.weights.h5")
    model.encoder.save_weights(local)
    if not chief:
        return None
    tf.io.gfile.makedirs(model_dir)
    target = os.path.join(model_dir, "encoder.weights.h5")
    tf.io.gfile.copy(local, target, overwrite=True)
    return target


def main(argv):
    del argv
    import tensorflow as tf

    import keras_adios

    if FLAGS.smoke:
        strategy = tf.distribute.get_strategy()
        FLAGS.dataset, FLAGS.steps_per_execution, FLAGS.num_masks = "shapes32", 2, 3
        dataset = make_dataset(16, num_images=64).take(4)
        model = make_model(strategy, (32, 32, 3), tiny=True)
        epochs = 1
    else:
        strategy = keras_adios.distribute.get_strategy(tpu=FLAGS.tpu)
        dataset = make_dataset(FLAGS.batch_size)
        spec = dataset.element_spec  # ((view1, view2), labels) or (view1, view2)
        views = spec[0] if isinstance(spec[0], tuple) else spec
        image_shape = tuple(views[0].shape[1:])
        model = make_model(strategy, image_shape)
        epochs = FLAGS.epochs
    # MomentumSchedule gives BYOL's target momentum its length (a no-op otherwise).
    history = model.fit(
        dataset, epochs=epochs, verbose=2, callbacks=[keras_adios.callbacks.MomentumSchedule()]
    )
    path = save_encoder(model, FLAGS.model_dir)
    print(f"final loss {history.history['loss'][-1]:.4f}; encoder saved to {path}")


if __name__ == "__main__":
    app.run(main)
