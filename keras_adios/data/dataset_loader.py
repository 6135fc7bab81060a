"""`load_dataset`: one entry point for every data source, by name."""

import os

from keras_adios.data.array_source import load_npz
from keras_adios.data.errors import DatasetNotFoundError
from keras_adios.data.image_folder import load_image_folder
from keras_adios.data.synthetic_shapes import load_synthetic_shapes
from keras_adios.data.tfds_source import load_tfds

_SHAPES_SIZES = {"shapes": 32, "shapes32": 32, "shapes64": 64, "synthetic_shapes": 32}
_SHORTCUT_SUFFIX = "_shortcut"
_NUMPY_TFDS = ("cifar10", "cifar100")


def synthetic_shapes_options(spec):
    """The `load_synthetic_shapes` options a dataset name stands for, or None.

    Args:
        spec: a `load_dataset` name, e.g. `"shapes32"` or `"shapes64_shortcut"`.

    Returns:
        `{"image_size": int, "background": "subdued" | "shortcut"}` for the
        synthetic shapes' names, `None` for every other source.

    Example:

    ```python
    synthetic_shapes_options("shapes32_shortcut")  # {'image_size': 32, 'background': 'shortcut'}
    synthetic_shapes_options("cifar10")            # None
    ```
    """
    key = str(spec).lower()
    background = "subdued"
    if key.endswith(_SHORTCUT_SUFFIX):
        key, background = key[: -len(_SHORTCUT_SUFFIX)], "shortcut"
    if key not in _SHAPES_SIZES:
        return None
    return {"image_size": _SHAPES_SIZES[key], "background": background}


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
      `num_images` and `seed`; with the suffix `"_shortcut"` (e.g.
      `"shapes32_shortcut"`) the variant whose loud backgrounds are a
      shortcut for SSL (`background="shortcut"`);
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
    shapes = synthetic_shapes_options(spec)
    if shapes is not None:
        data = load_synthetic_shapes(
            split,
            num_images=num_images,
            image_size=image_size or shapes["image_size"],
            seed=seed,
            background=shapes["background"],
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
