"""`load_dataset`: one entry point for every data source, by name."""

import os

from keras_adios.data.array_source import load_npz
from keras_adios.data.errors import DatasetNotFoundError
from keras_adios.data.image_folder import load_image_folder
from keras_adios.data.synthetic_shapes import load_synthetic_shapes
from keras_adios.data.tfds_source import load_tfds

_SHAPES_SIZES = {"shapes": 32, "shapes32": 32, "shapes64": 64, "synthetic_shapes": 32}
_NUMPY_TFDS = ("cifar10", "cifar100")


def load_dataset(
    spec,
    split="train",
    data_dir=None,
    manual_dir=None,
    download=False,
    image_size=None,
    num_images=None,
    seed=0,
):
    """Loads a data source from a short specification string.

    Specifications:
    * `"shapes32"`, `"shapes64"` (or `"shapes"`, `"synthetic_shapes"`, 32 px
      unless `image_size` says otherwise): `load_synthetic_shapes`, with
      `num_images` and `seed`;
    * `"folder:PATH"`: `load_image_folder`; uses `PATH/<split>/` when it
      exists, else, for `split="train"`, `PATH` itself;
    * `"npz:PATH"`: a NumPy file with `images` (and `labels`) arrays;
    * anything else: `load_tfds(spec, split, data_dir, manual_dir, download)`
      (CIFAR is returned as NumPy arrays, the rest as `tf.data`).

    Returns:
        Either a tuple `(images, labels)` of NumPy arrays or a
        `tf.data.Dataset` of `(image, label)`; `make_pretrain_dataset` and
        `make_eval_dataset` accept both as their first argument.

    Raises:
        DatasetNotFoundError: the data is not available locally.
    """
    key = spec.lower()
    if key in _SHAPES_SIZES:
        data = load_synthetic_shapes(
            split,
            num_images=num_images,
            image_size=image_size or _SHAPES_SIZES[key],
            seed=seed,
        )
        return data["images"], data["labels"]
    if key.startswith("folder:"):
        path = spec[len("folder:") :]
        if os.path.isdir(os.path.join(path, split)):
            return load_image_folder(path, image_size=image_size, split=split)
        if split == "train":
            return load_image_folder(path, image_size=image_size)
        raise DatasetNotFoundError(
            f"Image folder '{path}' has no '{split}' sub-folder. Use the layout "
            f"{path}/{split}/<class_name>/<images> (and {path}/train/...)."
        )
    if key.startswith("npz:"):
        return load_npz(spec[len("npz:") :])
    result = load_tfds(
        spec,
        split,
        data_dir=data_dir,
        manual_dir=manual_dir,
        download=download,
        as_numpy=key in _NUMPY_TFDS,
        image_size=image_size,
    )
    return result
