r"""Linear evaluation and kNN of a pretrained encoder, with the authors' protocol.

```shell
python examples/linear_eval.py --run_dir=runs/stl10_simclr     # dataset from the run
python examples/linear_eval.py --encoder_path=encoder.keras --dataset=cifar100 \
    --data_dir=~/tensorflow_datasets
python examples/linear_eval.py --run_dir=runs/x --noaugment --epochs=100   # fast: fixed features
python examples/linear_eval.py --smoke     # seconds, tiny encoder, synthetic data
```

The protocol of the ADIOS code (`main_linear.py`, `docs/algorithm.md`
§6): the backbone is frozen and runs in inference mode; a linear layer on its
features is trained with SGD (lr 0.1, momentum 0.9) wrapped in LARS (eta 1e-3,
no clipping), no weight decay, batch 128, 100 epochs, the learning rate x0.1
at epochs 60 and 80. Every epoch sees freshly augmented training images:
random resized crop (scale 0.08-1) and flip for STL10/ImageNet, 4-px reflect
padding + random crop and flip for CIFAR. Test images get the dataset's eval
transform (`keras_adios.data.eval_transform`). `--noaugment` trains the same
optimiser on features computed once with the eval transform
(`keras_adios.evaluation.linear_probe(optimizer="lars")`), much cheaper.

kNN: weighted cosine kNN on eval-transform features at a fixed k=20, T=0.07
(the authors report the best of a grid chosen on the test set; this reports
one fixed setting). Results go to `--output` (default
`<run_dir or encoder folder>/linear_eval.json`).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "A run folder (encoder.keras + flags.json).")
flags.DEFINE_string("encoder_path", None, "An encoder .keras file (instead of --run_dir).")
flags.DEFINE_string("dataset", None, "keras_adios.data.load_dataset spec; default: the run's.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data_dir.")
flags.DEFINE_string("manual_dir", None, "ImageNet-100(-S) folder ROOT.")
flags.DEFINE_string("train_split", "train", "Labelled training split.")
flags.DEFINE_string("eval_split", "test", "Test split (val for ImageNet-100).")
flags.DEFINE_integer("num_train_images", None, "Synthetic data: training images.", lower_bound=1)
flags.DEFINE_integer("num_eval_images", None, "Synthetic data: test images.", lower_bound=1)
flags.DEFINE_integer("load_size", None, "Image folders: resize+crop to this size when loading.", lower_bound=1)
flags.DEFINE_integer("epochs", 100, "Linear classifier epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", 128, "Batch size.", lower_bound=1)
flags.DEFINE_float("learning_rate", 0.1, "SGD learning rate (before LARS).", lower_bound=0.0)
flags.DEFINE_list("milestones", ["60", "80"], "Epochs where the learning rate is multiplied by 0.1.")
flags.DEFINE_bool("augment", True, "Authors' protocol (augmented images through the frozen "
                  "backbone); --noaugment: fixed eval-transform features.")
flags.DEFINE_integer("knn_k", 20, "kNN neighbours.", lower_bound=1)
flags.DEFINE_float("knn_temperature", 0.07, "kNN temperature.", lower_bound=1e-6)
flags.DEFINE_integer("seed", 0, "Seed of shuffling and augmentation.", lower_bound=0)
flags.DEFINE_string("output", None, "Results JSON path.")
flags.DEFINE_bool("smoke", False, "Tiny run: synthetic data, 2 epochs (a tiny untrained "
                  "encoder unless --run_dir/--encoder_path is given).")


def train_transform(dataset, config):
    """The authors' linear-eval training augmentation for `dataset`, as a function."""
    import tensorflow as tf

    from keras_adios import data

    if dataset.lower().startswith("cifar"):
        size = config.image_size

        def transform(image, seed):
            image = tf.image.convert_image_dtype(image, tf.float32)
            padded = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode="REFLECT")
            crop = tf.image.stateless_random_crop(padded, [size, size, 3], seed)
            flipped = tf.image.stateless_random_flip_left_right(crop, seed + 1)
            return data.normalize(flipped, config)

        return transform
    crop_only = data.AugmentationConfig.from_config(
        {**config.get_config(), "color_jitter_prob": 0.0, "grayscale_prob": 0.0,
         "blur_prob": 0.0, "solarization_prob": 0.0}
    )
    return lambda image, seed: data.augment_view(image, seed, crop_only)


def labelled(source):
    """`(images, labels)` arrays or a tf.data source -> tf.data of labelled examples."""
    import tensorflow as tf

    if isinstance(source, tuple):
        source = tf.data.Dataset.from_tensor_slices(source)
    # STL10's unlabelled images have label -1.
    return source.filter(lambda image, label: label >= 0)


def train_linear_augmented(encoder, train_source, num_classes, transform, settings):
    """Frozen encoder + Dense trained on augmented images; returns the classifier model."""
    import keras
    import tensorflow as tf

    from keras_adios import evaluation

    examples = labelled(train_source)
    num_train = int(examples.reduce(0, lambda n, _: n + 1))
    steps = max(1, num_train // settings["batch_size"])
    seeds = tf.data.Dataset.random(seed=settings["seed"], rerandomize_each_iteration=True).batch(2)
    batches = (
        tf.data.Dataset.zip((examples, seeds))
        .shuffle(min(num_train, 50_000), seed=settings["seed"], reshuffle_each_iteration=True)
        .map(lambda e, s: (transform(e[0], s), e[1]), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(settings["batch_size"], drop_remainder=num_train >= settings["batch_size"])
        .take(steps)
        .prefetch(tf.data.AUTOTUNE)
    )
    encoder.trainable = False
    inputs = keras.Input(encoder.input_shape[1:])
    logits = keras.layers.Dense(num_classes, name="linear")(encoder(inputs, training=False))
    classifier = keras.Model(inputs, logits, name="linear_eval")
    # The same protocol optimizer as keras_adios.evaluation.linear_probe(optimizer="lars").
    classifier.compile(
        optimizer=evaluation.linear_probe_optimizer(
            "lars", settings["learning_rate"], settings["epochs"], steps,
            milestones=[int(m) for m in settings["milestones"]],
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = classifier.fit(batches, epochs=settings["epochs"], verbose="auto")
    return classifier, num_train, float(history.history["accuracy"][-1])


def evaluate_encoder(encoder, settings):
    """Linear evaluation (augmented or fixed features) and kNN; returns a results dict."""
    import numpy as np

    from keras_adios import data
    from keras_adios import evaluation
    from keras_adios import experiment

    image_size = int(encoder.input_shape[1])
    config = experiment.augmentation_config(settings["dataset"], image_size)
    train_source = experiment.load_split(settings, settings["train_split"], settings["num_train_images"])
    eval_source = experiment.load_split(settings, settings["eval_split"], settings["num_eval_images"])
    to_ds = lambda s: data.make_eval_dataset(  # noqa: E731
        labelled(s), config=config, batch_size=256
    )
    train_features, train_labels = evaluation.extract_features(encoder, to_ds(train_source), verbose=1)
    test_features, test_labels = evaluation.extract_features(encoder, to_ds(eval_source), verbose=1)
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    results = {
        "dataset": settings["dataset"], "num_train": int(len(train_labels)),
        "num_test": int(len(test_labels)), "num_classes": num_classes,
        "epochs": settings["epochs"], "protocol": "augmented" if settings["augment"] else "features",
    }
    results["knn_accuracy"] = float(evaluation.knn_accuracy(
        train_features, train_labels, test_features, test_labels,
        k=settings["knn_k"], temperature=settings["knn_temperature"],
    ))
    if settings["augment"]:
        transform = train_transform(settings["dataset"], config)
        classifier, _, train_accuracy = train_linear_augmented(
            encoder, train_source, num_classes, transform, settings
        )
        logits = classifier.predict(to_ds(eval_source), verbose=0)
        results["linear_train_accuracy"] = train_accuracy
        results["linear_accuracy"] = float(np.mean(np.argmax(logits, -1) == test_labels))
    else:
        milestones = [int(m) for m in settings["milestones"]]
        if milestones != [round(0.6 * settings["epochs"]), round(0.8 * settings["epochs"])]:
            logging.warning("--noaugment decays at 60 %% and 80 %% of the epochs; --milestones ignored.")
        probe = evaluation.linear_probe(
            train_features, train_labels, test_features, test_labels, num_classes=num_classes,
            epochs=settings["epochs"], batch_size=settings["batch_size"],
            learning_rate=settings["learning_rate"], optimizer="lars", standardize=False,
            seed=settings["seed"],
        )
        results["linear_train_accuracy"] = float(probe["train_accuracy"])
        results["linear_accuracy"] = float(probe["test_accuracy"])
    return results


def _settings_and_encoder_path():
    from keras_adios import experiment

    settings = dict(experiment.DEFAULTS)
    encoder_path = FLAGS.encoder_path
    out_dir = None
    if FLAGS.run_dir:
        flags_path = os.path.join(FLAGS.run_dir, "flags.json")
        if not os.path.exists(flags_path):
            raise FileNotFoundError(f"{flags_path} not found: --run_dir must be a run folder.")
        with open(flags_path) as f:
            settings.update(json.load(f))
        encoder_path = encoder_path or os.path.join(FLAGS.run_dir, "encoder.keras")
        out_dir = FLAGS.run_dir
        # Linear evaluation trains on the labelled split (STL10: "train").
        settings["train_split"] = FLAGS.train_split
    if FLAGS.smoke:
        settings.update(dataset="shapes32", num_train_images=64, num_eval_images=64, load_size=None)
        settings.update(train_split="train", eval_split="test")
    for name in ("dataset", "data_dir", "manual_dir", "num_train_images", "num_eval_images", "load_size"):
        if getattr(FLAGS, name) is not None:
            settings[name] = getattr(FLAGS, name)
    if not FLAGS.run_dir:
        settings.update(train_split=FLAGS.train_split, eval_split=FLAGS.eval_split)
    settings.update(
        epochs=2 if FLAGS.smoke else FLAGS.epochs,
        batch_size=16 if FLAGS.smoke else FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate, milestones=FLAGS.milestones, augment=FLAGS.augment,
        knn_k=FLAGS.knn_k, knn_temperature=FLAGS.knn_temperature, seed=FLAGS.seed,
    )
    if encoder_path is None and not FLAGS.smoke:
        raise ValueError("Pass --run_dir (a run folder) or --encoder_path (an encoder .keras file).")
    out_dir = out_dir or (os.path.dirname(encoder_path) if encoder_path else "runs/linear_eval_smoke")
    return settings, encoder_path, out_dir


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags are written --name=value")
    try:
        settings, encoder_path, out_dir = _settings_and_encoder_path()
        if encoder_path is not None and not os.path.exists(encoder_path):
            raise FileNotFoundError(f"Encoder file {encoder_path} not found.")
        import keras

        import keras_adios

        if encoder_path is None:  # --smoke without a trained encoder.
            encoder = keras_adios.encoders.SmallResNet(input_shape=(32, 32, 3), widths=(8, 16))
        else:
            encoder = keras.models.load_model(encoder_path)
        logging.info("Linear evaluation of %s on %s", encoder_path or "a tiny encoder", settings["dataset"])
        results = evaluate_encoder(encoder, settings)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        sys.exit(f"error: {first}")
    output = FLAGS.output or os.path.join(out_dir, "linear_eval.json")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    print(json.dumps(results, indent=2, sort_keys=True))
    print(
        f"linear accuracy {results['linear_accuracy']:.3f}, kNN accuracy "
        f"{results['knn_accuracy']:.3f} ({results['num_classes']} classes). Results: {output}"
    )


if __name__ == "__main__":
    app.run(main)
