"""`tf.data` pipelines for pretraining (two views) and evaluation.

Reproducibility: with `epoch_seed = fold_in([seed, salt], epoch)` and
`(shuffle_seed, aug_seed) = stateless_split(epoch_seed, 2)`, example `i`
(its index in the source) is augmented with the seed `fold_in(aug_seed, i)`
(`tf.random.experimental.stateless_fold_in`, int64 seeds, epoch and index),
a pure function of (`seed`, epoch, example index), so batches do not depend
on AUTOTUNE or the number of parallel calls. For NumPy sources the shuffle is a
stateless permutation of (`seed`, epoch) too. For `tf.data.Dataset` sources
the order comes from `Dataset.shuffle` with a per-epoch op seed, which, as
always in `tf.data`, also depends on TensorFlow's global seed (set by
`keras.utils.set_random_seed`); the augmentation seeds are stateless anyway.

Epochs: Keras `fit` iterates a finite dataset once per epoch with a fresh
iterator. The dataset counts its iterators (a small `tf.Variable` read when
an iterator starts), so epoch `e` of a run gets epoch seed `e`; two datasets
built with the same arguments give the same sequence of epochs. With
`repeat=True` the dataset is infinite (use `steps_per_epoch`) and epoch `e`
is the `e`-th pass over the data in that single iterator. With
`drop_remainder=True` each epoch drops its last incomplete batch (PyTorch's
`drop_last`, which ADIOS-s relies on), so batches never straddle epochs;
with `repeat=True` and `drop_remainder=False` (or a `tf.data` source of
unknown size) the last batch of an epoch is completed with the next epoch's
first examples.
"""

import numpy as np
import tensorflow as tf

from keras_adios.data.array_source import validate_arrays
from keras_adios.data.augmentation import (
    apply_view_params,
    crop_view,
    eval_transform,
    view_uniforms,
)

_SEED_SALT = 0x0AD105  # Second word of the base seed.


def _split_source(images, labels):
    """Returns ("array", images, labels) or ("dataset", dataset, has_labels)."""
    if isinstance(images, tf.data.Dataset):
        if labels is not None:
            raise ValueError(
                "`labels` must be None when `images` is a tf.data.Dataset: put the "
                "labels in the dataset's elements, as (image, label)."
            )
        return ("dataset",) + _standardize_dataset(images)
    if isinstance(images, (tuple, list)) and len(images) == 2 and labels is None:
        images, labels = images
    images, labels = validate_arrays(images, labels)
    return "array", images, labels


def _standardize_dataset(dataset):
    """Maps the elements to `image` or `(image, label)`; returns (ds, has_labels)."""
    spec = dataset.element_spec
    if isinstance(spec, dict):
        if "image" not in spec:
            raise ValueError(
                "A dict-valued dataset must have an 'image' key (and optionally "
                f"'label'). Received keys: {sorted(spec)}"
            )
        has_labels = "label" in spec
        dataset = dataset.map(
            (lambda d: (d["image"], d["label"])) if has_labels else (lambda d: d["image"])
        )
        spec = dataset.element_spec
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise ValueError(
                "Dataset elements must be `image` or `(image, label)`. Received a "
                f"tuple of {len(spec)} elements: {spec}"
            )
        image_spec, label_spec = spec
        has_labels = True
        if label_spec.shape.rank not in (None, 0):
            raise ValueError(
                "Dataset labels must be scalars (unbatch the dataset first). "
                f"Received: label spec {label_spec}"
            )
    else:
        image_spec, has_labels = spec, False
    if not isinstance(image_spec, tf.TensorSpec):
        raise ValueError(f"Dataset images must be dense tensors. Received: {image_spec}")
    if image_spec.shape.rank is not None and (
        image_spec.shape.rank != 3 or image_spec.shape[-1] not in (None, 3)
    ):
        batched = " It looks batched: call .unbatch() first." if image_spec.shape.rank == 4 else ""
        raise ValueError(
            "Dataset images must have shape (H, W, 3).{} Received: {}".format(
                batched, image_spec
            )
        )
    if has_labels:
        dataset = dataset.map(lambda image, label: (image, tf.cast(label, tf.int32)))
    return dataset, has_labels


def _check_batch_size(batch_size, num_examples, drop_remainder):
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: batch_size={batch_size}"
        )
    if drop_remainder and num_examples is not None and batch_size > num_examples:
        raise ValueError(
            f"`batch_size` ({batch_size}) is larger than the dataset ({num_examples} "
            "examples) and drop_remainder=True, so there would be no batch at all. "
            "Use a smaller batch_size or drop_remainder=False."
        )


def _known_size(dataset):
    size = int(dataset.cardinality())
    return size if size >= 0 else None


def _epoch_counter_dataset(repeat, initial_epoch=0):
    """One element per epoch: initial_epoch, initial_epoch + 1, ... (see the module docstring)."""
    if repeat:
        return tf.data.Dataset.range(initial_epoch, np.iinfo(np.int64).max)
    with tf.init_scope(), tf.device("/CPU:0"):
        counter = tf.Variable(initial_epoch, dtype=tf.int64, trainable=False, name="epoch_counter")
    return tf.data.Dataset.range(1).map(lambda _: counter.assign_add(1) - 1)


def make_pretrain_dataset(
    images,
    labels=None,
    config=None,
    batch_size=256,
    seed=0,
    shuffle=True,
    drop_remainder=True,
    repeat=False,
    shuffle_buffer_size=10_000,
    initial_epoch=0,
):
    """The two-view pretraining pipeline: shuffle, augment twice, batch.

    Args:
        images: uint8 `(N, H, W, 3)` array (or float in [0, 1]), a tuple
            `(images, labels)`, or a `tf.data.Dataset` of unbatched `image`,
            `(image, label)` or `{"image", "label"}` elements (images of any
            size, e.g. from `load_tfds` or `load_image_folder`).
        labels: int array `(N,)` or `None`. Only with array `images`.
        config: an `AugmentationConfig` (required).
        batch_size: int. Defaults to `256`.
        seed: int. Seeds the shuffling and all augmentations. Defaults to
            `0`.
        shuffle: bool. Reshuffle every epoch. Defaults to `True`.
        drop_remainder: bool. Drop each epoch's last incomplete batch.
            Defaults to `True`.
        repeat: bool. Loop forever (epochs get new shuffles and
            augmentations). Defaults to `False`: one pass per iterator, a
            new epoch for every new iterator (every `fit` epoch).
        shuffle_buffer_size: int. Shuffle buffer for `tf.data.Dataset`
            sources (arrays are shuffled exactly). Defaults to `10000`.
        initial_epoch: int. The epoch the first pass is (its shuffle and
            augmentations are a function of the seed and the epoch): pass
            `fit`'s `initial_epoch` when resuming, so a resumed run sees
            exactly the data of an uninterrupted one. Defaults to `0`.

    Returns:
        A `tf.data.Dataset` yielding `((view1, view2), labels)` when labels
        are available, else `(view1, view2)`; views are float32
        `(batch, image_size, image_size, 3)`, normalised; labels int32
        `(batch,)`. Note that Keras' default data unpacking reads a 2-tuple
        as `(x, y)`; a custom `train_step` receives the tuple as is.

    Example:

    ```python
    from keras_adios.data import (
        AugmentationConfig, load_synthetic_shapes, make_pretrain_dataset
    )

    data = load_synthetic_shapes("train", num_images=1024)
    dataset = make_pretrain_dataset(
        data["images"], data["labels"],
        config=AugmentationConfig.preset("shapes32"), batch_size=128,
    )
    (view1, view2), labels = next(iter(dataset))
    ```
    """
    if config is None:
        raise ValueError(
            "`config` is required, e.g. config=AugmentationConfig.preset('cifar10')."
        )
    kind, source, extra = _split_source(images, labels)
    base_seed = tf.constant([int(seed), _SEED_SALT], tf.int64)

    def epoch_seeds(epoch):
        epoch_seed = tf.random.experimental.stateless_fold_in(base_seed, epoch)
        return tf.unstack(tf.random.experimental.stateless_split(epoch_seed, 2))

    # The per-epoch datasets (inside `flat_map`) only order the examples and
    # tag them with their epoch; the heavy maps run once, outside, so that
    # their functions are not re-instantiated every epoch.
    if kind == "array":
        has_labels = extra is not None
        num_examples = source.shape[0]
        _check_batch_size(batch_size, num_examples, drop_remainder)
        images_t = tf.convert_to_tensor(source)
        labels_t = tf.convert_to_tensor(extra) if has_labels else None
        # With `repeat`, each epoch contributes whole batches only, so
        # batches never straddle epochs.
        per_epoch = (num_examples // batch_size) * batch_size if drop_remainder else num_examples

        def epoch_examples(epoch):
            shuffle_seed, _ = epoch_seeds(epoch)
            if shuffle:
                order = tf.argsort(
                    tf.random.stateless_uniform([num_examples], shuffle_seed), stable=True
                )
            else:
                order = tf.range(num_examples)
            order = tf.cast(order[:per_epoch], tf.int64)
            return tf.data.Dataset.from_tensor_slices(order).map(lambda i: (epoch, i))

        def example(epoch, index):
            image = tf.gather(images_t, index)
            label = (tf.gather(labels_t, index),) if has_labels else ()
            return (epoch, index, image) + label

    else:
        dataset, has_labels = source, extra
        num_examples = _known_size(dataset)
        _check_batch_size(batch_size, num_examples, drop_remainder)

        def epoch_examples(epoch):
            shuffle_seed, _ = epoch_seeds(epoch)
            if has_labels:
                tagged = dataset.enumerate().map(lambda i, e: (epoch, i) + tuple(e))
            else:
                tagged = dataset.enumerate().map(lambda i, e: (epoch, i, e))
            if shuffle:
                # A global seed of 0 (`keras.utils.set_random_seed(0)`) makes
                # tf.data compare our tensor op seed with 0 in Python, which
                # fails in this graph; use TF's default graph seed instead.
                graph = tf.compat.v1.get_default_graph()
                if graph.seed == 0:
                    graph.seed = None
                tagged = tagged.shuffle(
                    shuffle_buffer_size, seed=shuffle_seed[0], reshuffle_each_iteration=False
                )
            if drop_remainder and num_examples is not None:
                tagged = tagged.take((num_examples // batch_size) * batch_size)
            return tagged

        example = None

    def per_example(epoch, index, image, *label):
        # The draws of both views (one op) and the two crops.
        _, aug_seed = epoch_seeds(epoch)
        seed = tf.random.experimental.stateless_fold_in(aug_seed, index)
        uniforms = view_uniforms(seed, num_views=2)
        crops = tf.stack(
            [crop_view(image, uniforms[0], config), crop_view(image, uniforms[1], config)]
        )
        return (crops, uniforms) + tuple(label)

    if example is not None:
        per_example_fn = lambda epoch, index: per_example(*example(epoch, index))  # noqa: E731
    else:
        per_example_fn = per_example

    def per_batch(crops, uniforms, *label):
        # The deterministic rest, vectorised over the batch and both views.
        num = tf.shape(crops)[0]
        views = apply_view_params(
            tf.concat([crops[:, 0], crops[:, 1]], axis=0),
            tf.concat([uniforms[:, 0], uniforms[:, 1]], axis=0),
            config,
        )
        view1, view2 = views[:num], views[num:]
        if has_labels:
            return (view1, view2), label[0]
        return view1, view2

    result = (
        _epoch_counter_dataset(repeat, int(initial_epoch))
        .flat_map(epoch_examples)
        .map(per_example_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(batch_size, drop_remainder=drop_remainder)
        .map(per_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    )
    if repeat:
        result = result.apply(
            tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY)
        )
    elif num_examples is not None:
        num_batches = (
            num_examples // batch_size if drop_remainder else -(-num_examples // batch_size)
        )
        result = result.apply(tf.data.experimental.assert_cardinality(num_batches))
    return result.prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(images, labels=None, config=None, batch_size=256):
    """The evaluation pipeline: `eval_transform` (resize, crop, normalise), batch.

    No augmentation, no shuffling, and the last batch is kept.

    Args:
        images: uint8 `(N, H, W, 3)` array (or float in [0, 1]), a tuple
            `(images, labels)`, or a `tf.data.Dataset` of unbatched `image`
            or `(image, label)` elements.
        labels: int array `(N,)` or `None`. Only with array `images`.
        config: an `AugmentationConfig` (required); only its `image_size`,
            `mean`, `std` and eval resize settings are used.
        batch_size: int. Defaults to `256`.

    Returns:
        A `tf.data.Dataset` of `(images, labels)`, or of `images` without
        labels; images are float32 `(batch, image_size, image_size, 3)`.
    """
    if config is None:
        raise ValueError(
            "`config` is required, e.g. config=AugmentationConfig.preset('cifar10')."
        )
    kind, source, extra = _split_source(images, labels)
    _check_batch_size(batch_size, None, drop_remainder=False)
    if kind == "array":
        has_labels = extra is not None
        dataset = tf.data.Dataset.from_tensor_slices(
            (source, extra) if has_labels else source
        )
    else:
        dataset, has_labels = source, extra
    if has_labels:
        fn = lambda image, label: (eval_transform(image, config), label)  # noqa: E731
    else:
        fn = lambda image: eval_transform(image, config)  # noqa: E731
    dataset = dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
