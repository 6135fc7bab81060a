"""Image folders (one sub-folder per class) as `tf.data` sources."""

import os

import tensorflow as tf

from keras_adios.data.errors import DatasetNotFoundError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def list_image_folder(root):
    """The classes and image files of a folder with one sub-folder per class.

    Args:
        root: path of the folder (`root/<class>/<images>`).

    Returns:
        `(class_names, paths, labels)`: the sorted class folder names, the
        image file paths in sorted order (nested folders under a class
        folder count for that class) and their int labels.

    Example:

    ```python
    class_names, paths, labels = list_image_folder("photos")
    dataset = image_folder_dataset(paths[::2], labels[::2], image_size=64)
    ```
    """
    root = os.fspath(root)
    classes = sorted(
        d
        for d in os.listdir(root)
        if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")
    )
    paths, labels = [], []
    for label, class_name in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(
            os.path.join(root, class_name), followlinks=True
        ):
            dirnames.sort()
            for filename in sorted(filenames):
                if filename.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.join(dirpath, filename))
                    labels.append(label)
    return classes, paths, labels


def _resize_and_center_crop(image, size):
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    scale = size / tf.minimum(h, w)
    new_h = tf.maximum(size, tf.cast(tf.round(h * scale), tf.int32))
    new_w = tf.maximum(size, tf.cast(tf.round(w * scale), tf.int32))
    resized = tf.image.resize(image, tf.stack([new_h, new_w]), "bilinear", antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    resized = tf.slice(resized, tf.stack([top, left, 0]), [size, size, 3])
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def load_image_folder(path, image_size=None, split=None):
    """Reads a folder of images, one sub-folder per class, as a `tf.data.Dataset`.

    Layouts: `path/<class>/<images>` or, with `split`, `path/<split>/<class>/
    <images>` (the `tfds.folder_dataset.ImageFolder` layout, e.g. ImageNet-100
    with `train/` and `val/`). Class folders are sorted by name to give the
    labels `0..C-1`; images in nested folders under a class folder count for
    that class; extensions: jpg, jpeg, png, bmp, gif. Files are listed in
    sorted order and nothing is shuffled (the pretraining pipeline shuffles).

    Args:
        path: path of the folder.
        image_size: int or `None`. `None` keeps each image's size (the
            pretraining crop handles any size). An int resizes the short side
            to `image_size` (bilinear, antialiased) and center-crops a square,
            so that all images have the same size.
        split: string or `None`. Sub-folder of `path` holding the classes.

    Returns:
        A `tf.data.Dataset` of `(image, label)`: uint8 `(H, W, 3)` images
        and int32 labels, with attributes `class_names` (list of strings) and
        `file_paths`.

    Raises:
        DatasetNotFoundError: missing folder, no class sub-folders or no
            images.
    """
    path = os.fspath(path)
    root = path if split is None else os.path.join(path, split)
    if not os.path.isdir(root):
        available = ""
        if split is not None and os.path.isdir(path):
            subdirs = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
            available = f" Sub-folders of {path}: {subdirs or 'none'}."
        raise DatasetNotFoundError(
            f"Image folder '{root}' does not exist.{available} Expected the layout "
            f"{root}/<class_name>/<image files>."
        )
    classes, paths, labels = list_image_folder(root)
    if not classes or not paths:
        raise DatasetNotFoundError(
            f"No images found in image folder '{root}' "
            f"({len(classes)} class sub-folders). Expected the layout "
            f"{root}/<class_name>/<image files> with extensions "
            f"{', '.join(IMAGE_EXTENSIONS)}."
        )

    return image_folder_dataset(paths, labels, image_size=image_size, class_names=classes)


def image_folder_dataset(paths, labels, image_size=None, class_names=None):
    """A `tf.data.Dataset` of `(image, label)` read from a list of image files.

    The files are read and decoded as the dataset is iterated (nothing is
    held in memory beyond `tf.data`'s buffers), in the order given.

    Args:
        paths: list of image file paths.
        labels: list of int labels, one per path.
        image_size: int or `None`: see `load_image_folder`.
        class_names: list of strings or `None`: kept as the dataset's
            `class_names` attribute (as `load_image_folder` does).

    Returns:
        A `tf.data.Dataset` of `(image, label)`: uint8 `(H, W, 3)` images and
        int32 labels, with attributes `class_names` and `file_paths`.
    """
    if len(paths) != len(labels):
        raise ValueError(
            f"`paths` and `labels` must have the same length. Received: {len(paths)} paths "
            f"and {len(labels)} labels."
        )
    if not len(paths):
        raise ValueError("`paths` is empty: a dataset needs at least one image file.")

    def load(file_path, label):
        image = tf.io.decode_image(
            tf.io.read_file(file_path), channels=3, expand_animations=False
        )
        image.set_shape([None, None, 3])
        if image_size is not None:
            image = _resize_and_center_crop(image, int(image_size))
        return image, label

    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(paths)), tf.constant(list(labels), tf.int32))
    ).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset.class_names = None if class_names is None else list(class_names)
    dataset.file_paths = list(paths)
    return dataset
