"""Callback writing a PNG grid of the masker's masks every n epochs."""

import os
import warnings

import keras
import numpy as np

from keras_adios.callbacks.mask_grid import _OCCLUDED_MODES
from keras_adios.callbacks.mask_grid import render_mask_grid
from keras_adios.utils.validation import check_positive_int
from keras_adios.utils.arrays import to_numpy
from keras_adios.evaluation.mask_metrics import compute_masks


def spread_over_classes(num_images, count, labels=None):
    """Indices of `count` images spread over classes (with labels) or over the split.

    With `labels`, the classes take turns in order of first appearance: the
    first image of each class, then the second of each, ...; unlabelled
    images (negative ids) come last. Without, `count` indices evenly spaced
    over `range(num_images)`. Fewer images than `count`: all of them.

    Example:

    >>> from keras_adios.callbacks.mask_visualizer import spread_over_classes
    >>> spread_over_classes(6, 3, labels=[0, 0, 0, 1, 1, 2]).tolist()
    [0, 3, 5]
    >>> spread_over_classes(10, 2).tolist()
    [0, 5]
    """
    count = min(int(count), int(num_images))
    if labels is None:
        return (np.arange(count) * num_images) // max(count, 1)
    labels = np.asarray(to_numpy(labels)).reshape(-1)[:num_images]
    if labels.shape[0] != num_images:
        raise ValueError(
            f"`labels` must have one entry per image. Received: {labels.shape[0]} labels for "
            f"{num_images} images"
        )
    rank = np.zeros(num_images, np.int64)  # the image's position within its class
    seen = {}
    for i, label in enumerate(labels.tolist()):
        rank[i] = seen.get(label, 0)
        seen[label] = rank[i] + 1
    first = {label: i for i, label in reversed(list(enumerate(labels.tolist())))}
    order = sorted(range(num_images), key=lambda i: (labels[i] < 0, rank[i], first[labels[i]]))
    return np.asarray(order[:count], np.int64)


class MaskVisualizer(keras.callbacks.Callback):
    """Saves a grid of images, masks and masked images after every n epochs.

    At the end of every `every_n_epochs`-th epoch the callback runs
    `self.model.masker(images, training=False)` on a fixed set of images and
    writes `output_dir/masks_epoch_{epoch:03d}.png` (epochs are numbered from
    1, as in the progress bar), rendered by `render_mask_grid`: one row per
    image; the image, then for each mask n the mask (greyscale, white =
    occluded) and the masked image `x * (1 - m_n)`. With the default
    `occluded="mean"` the product is taken on the normalised image, exactly
    what the encoder sees, so occluded pixels show the dataset-mean colour;
    `occluded="black"` shows them black. Tiles are upscaled `scale` times
    (nearest neighbour).

    With `tensorboard_dir`, the same grid is also written as an image
    summary with tag `"masks"` at step `epoch` (the record
    `tf.summary.image` writes), viewable in TensorBoard's Images tab.
    TensorFlow writes the event file whatever the Keras backend; the
    `tensorboard` package itself is not needed to write it.

    If the model has no masker (`model.masker` missing or None, e.g. a plain
    SSL baseline), the callback does nothing and warns once.

    Args:
        images: array `(B, H, W, C)` of *normalised* images (as fed to the
            model), or an `(images, labels)` tuple. `max_images` of them are
            shown, picked by `spread_over_classes`: with labels, one image
            of each class in turn (so a class-sorted split still shows every
            class); without, images evenly spaced over the array.
        output_dir: str. Directory for the PNG files (created if needed).
        denormalize: None (images already in [0, 1]), a `(mean, std)` tuple
            (per-channel) or a callable mapping images to [0, 1] for display.
        every_n_epochs: int. Render after every n-th epoch.
        max_images: int. Number of images (rows) to show.
        tensorboard_dir: str or None. Also log the grid to TensorBoard.
        hard: bool. Show hard (one-hot argmax) masks instead of soft ones.
        scale: int. Upscaling factor of the tiles.
        occluded: `"mean"` or `"black"`, how occluded pixels are shown.

    Example:

    >>> import keras, numpy as np, os, tempfile
    >>> from keras_adios.callbacks import MaskVisualizer
    >>> class TinyADIOS(keras.Model):  # any model with a `.masker`
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.masker = keras.layers.Conv2D(2, 1, activation="softmax")
    ...         self.head = keras.Sequential(
    ...             [
    ...                 keras.layers.GlobalAveragePooling2D(),
    ...                 keras.layers.Dense(2, activation="softmax"),
    ...             ]
    ...         )
    ...     def call(self, x):
    ...         return self.head(x * (1.0 - self.masker(x)[..., :1]))
    >>> x = np.random.normal(size=(16, 8, 8, 3)).astype("float32")
    >>> y = np.arange(16) % 2
    >>> model = TinyADIOS()
    >>> model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    >>> out = tempfile.mkdtemp()
    >>> visualizer = MaskVisualizer(
    ...     x[:4], out, denormalize=((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    ... )
    >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[visualizer])
    >>> sorted(os.listdir(out))
    ['masks_epoch_001.png', 'masks_epoch_002.png']
    """

    def __init__(
        self,
        images,
        output_dir,
        denormalize=None,
        every_n_epochs=1,
        max_images=8,
        tensorboard_dir=None,
        hard=False,
        scale=4,
        occluded="mean",
    ):
        super().__init__()
        labels = None
        if isinstance(images, tuple):
            images, labels = images[0], (images[1] if len(images) > 1 else None)
        images = to_numpy(images)
        if images.ndim != 4:
            raise ValueError(
                "`images` must have shape (B, H, W, C). Received: "
                f"images.shape={images.shape}"
            )
        if images.shape[0] == 0:
            raise ValueError("`images` must not be empty. Received: 0 images")
        if not output_dir:
            raise ValueError(
                "`output_dir` must be a path. Received: "
                f"output_dir={output_dir!r}"
            )
        if occluded not in _OCCLUDED_MODES:
            raise ValueError(
                f"`occluded` must be one of {_OCCLUDED_MODES}. Received: "
                f"occluded={occluded!r}"
            )
        self.every_n_epochs = check_positive_int(
            every_n_epochs, "every_n_epochs"
        )
        self.max_images = check_positive_int(max_images, "max_images")
        self.scale = check_positive_int(scale, "scale")
        self.images = images[spread_over_classes(len(images), self.max_images, labels)]
        self.output_dir = os.fspath(output_dir)
        self.denormalize = denormalize
        self.tensorboard_dir = (
            None if tensorboard_dir is None else os.fspath(tensorboard_dir)
        )
        self.hard = bool(hard)
        self.occluded = occluded
        self.last_path = None
        self._writer = None
        self._warned = False

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs == 0:
            self.render(epoch + 1)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def render(self, epoch):
        """Renders and writes the grid for `epoch` now.

        Args:
            epoch: int, used in the file name and as the TensorBoard step.

        Returns:
            The uint8 grid array, or None if the model has no masker.
        """
        masker = getattr(self.model, "masker", None)
        if masker is None:
            if not self._warned:
                warnings.warn(
                    "MaskVisualizer: the model has no `masker` (model.masker "
                    "is missing or None); no masks will be written.",
                    stacklevel=2,
                )
                self._warned = True
            return None
        masks = compute_masks(masker, self.images, batch_size=len(self.images))
        grid = render_mask_grid(
            self.images,
            masks,
            denormalize=self.denormalize,
            scale=self.scale,
            hard=self.hard,
            occluded=self.occluded,
        )
        os.makedirs(self.output_dir, exist_ok=True)
        filename = f"masks_epoch_{int(epoch):03d}.png"
        path = os.path.join(self.output_dir, filename)
        from PIL import Image

        Image.fromarray(grid).save(path)
        self.last_path = path
        if self.tensorboard_dir is not None:
            self._write_summary(grid, int(epoch))
        return grid

    def _write_summary(self, grid, step):
        import tensorflow as tf

        if self._writer is None:
            os.makedirs(self.tensorboard_dir, exist_ok=True)
            self._writer = tf.summary.create_file_writer(self.tensorboard_dir)
        with self._writer.as_default():
            _write_image_summary(tf, "masks", grid, step)
        self._writer.flush()

    def get_config(self):
        """Hyperparameters (the images are data and are not included)."""
        denormalize = self.denormalize
        if denormalize is not None and not callable(denormalize):
            denormalize = [np.asarray(v).tolist() for v in denormalize]
        elif callable(denormalize):
            denormalize = getattr(denormalize, "__name__", repr(denormalize))
        return {
            "output_dir": self.output_dir,
            "denormalize": denormalize,
            "every_n_epochs": self.every_n_epochs,
            "max_images": self.max_images,
            "tensorboard_dir": self.tensorboard_dir,
            "hard": self.hard,
            "scale": self.scale,
            "occluded": self.occluded,
        }


def _write_image_summary(tf, tag, image, step):
    """Writes one uint8 RGB image as a TensorBoard image summary.

    The same record as `tf.summary.image` (TensorBoard's image plugin, v2
    format: a string tensor `[width, height, png]`), written with the core
    `tf.summary.write`, so it works without the `tensorboard` package.
    """
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        display_name=tag,
        data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
    )
    metadata.plugin_data.plugin_name = "images"
    metadata.plugin_data.content = b""  # ImagePluginData(version=0)
    height, width = image.shape[:2]
    tensor = tf.stack(
        [
            tf.constant(str(width)),
            tf.constant(str(height)),
            tf.image.encode_png(image),
        ]
    )
    tf.summary.write(tag=tag, tensor=tensor, step=step, metadata=metadata)
