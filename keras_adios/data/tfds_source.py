"""TensorFlow Datasets sources that never touch the network unless asked to.

`tfds.load(name)` downloads by default, and offline it retries for about
200 s before failing. `load_tfds` instead checks `builder.is_prepared()` and,
unless `download=True`, raises one `DatasetNotFoundError` that says where it
looked and how to provide the data.
"""

import os

import tensorflow as tf

from keras_adios.data.errors import DatasetNotFoundError
from keras_adios.data.image_folder import load_image_folder

# Names used by the ADIOS code -> tfds names.
_ALIASES = {"cifar-10": "cifar10", "cifar-100": "cifar100", "stl-10": "stl10"}
_FOLDER_DATASETS = ("imagenet100", "imagenet100s")
_FOLDER_SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "val"}


def _normalize_split(name, split):
    split = split.replace(" ", "")
    if name.split("/")[0] == "stl10":
        # The ADIOS code says "train+unlabeled"; tfds names it "unlabelled".
        split = "+".join("unlabelled" if s == "unlabeled" else s for s in split.split("+"))
    if name.split("/")[0] == "imagenette" and split == "test":
        split = "validation"  # Imagenette has no test split.
    return split


def _default_data_dir(data_dir):
    if data_dir is not None:
        return os.fspath(data_dir)
    return os.environ.get(
        "TFDS_DATA_DIR", os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
    )


def _required_archives(builder):
    """Files a non-manual builder downloads, or None when unknown."""
    config = getattr(builder, "builder_config", None)
    dirname = getattr(config, "dirname", None)
    if dirname:  # Imagenette: one archive per config.
        return [f"{dirname}.tgz"]
    url_infos = getattr(builder, "url_infos", None) or {}
    names = [info.filename for info in url_infos.values()]
    if not names or any(n is None for n in names):
        return None
    return sorted(set(names))


def _not_found_message(name, split, data_dir, looked_in, archives, reason):
    archives_text = ", ".join(archives) if archives else "the original archive(s)"
    return (
        f"Dataset '{name}' (split '{split}') is not available: {reason}. "
        f"Looked in data_dir '{data_dir}' ({looked_in}). Nothing is downloaded "
        "unless download=True. To provide it, either:\n"
        f"  * on a machine with network access, run `tfds build {name} "
        f"--data_dir=DIR` (or load_tfds('{name}', download=True, data_dir=DIR)), "
        "copy DIR to this machine and pass data_dir=DIR (or set TFDS_DATA_DIR);\n"
        f"  * or download {archives_text} by hand into a folder and pass "
        "manual_dir=FOLDER;\n"
        "  * or use an image folder with one sub-folder per class: "
        "--dataset=folder:PATH (keras_adios.data.load_image_folder)."
    )


def _load_folder_dataset(name, split, data_dir, manual_dir, image_size):
    roots = [d for d in (manual_dir, data_dir) if d is not None]
    candidates = []
    for root in roots:
        root = os.fspath(root)
        for candidate in (os.path.join(root, name), os.path.join(root, "imagenet100"), root):
            if candidate not in candidates:
                candidates.append(candidate)
    folder_split = _FOLDER_SPLITS.get(split)
    if folder_split is None:
        raise ValueError(
            f"`split` must be one of {sorted(_FOLDER_SPLITS)} for {name}. "
            f"Received: split={split!r}"
        )
    for root in candidates:
        if os.path.isdir(os.path.join(root, folder_split)):
            return load_image_folder(root, image_size=image_size, split=folder_split)
    raise DatasetNotFoundError(
        f"Dataset '{name}' (split '{split}') is not available: it is read from an "
        f"image folder ROOT/{folder_split}/<class>/<images> and none was found "
        f"(looked for {folder_split}/ in: {', '.join(candidates) or 'nothing'}; "
        "pass manual_dir=ROOT or data_dir=ROOT). Build ROOT from the ImageNet "
        "train/val folders with the 100 classes of solo-learn's "
        "`bash_files/imagenet100.sh` (the CMC list), or use "
        "--dataset=folder:PATH for any other image folder."
    )


def load_tfds(
    name,
    split="train",
    data_dir=None,
    manual_dir=None,
    download=False,
    as_numpy=False,
    image_size=None,
):
    """Loads a TFDS dataset (or ImageNet-100 from a folder) without surprises.

    Supported: `"cifar10"`, `"cifar100"`, `"stl10"` (pretraining uses the
    split `"train+unlabelled"`; the ADIOS spelling `"train+unlabeled"` is
    accepted), `"imagenette"` (any `"imagenette/<config>"`; `"test"` maps to
    its `"validation"` split), and `"imagenet100"` / `"imagenet100s"`, read
    from a folder `ROOT/{train,val}/<class>/<images>` (`manual_dir=ROOT` or
    `data_dir=ROOT`). Other TFDS names are passed through.

    Offline behaviour: with `download=False` (the default) nothing is
    downloaded. If the dataset is not prepared in `data_dir`, it is prepared
    from `manual_dir` when that folder holds the dataset's original
    archive(s) (e.g. `cifar-10-binary.tar.gz`) or the builder is a
    manual-download one; otherwise a `DatasetNotFoundError` explains how to
    provide the data. Network errors during `download=True` are re-raised as
    `DatasetNotFoundError` too.

    Args:
        name: string. The dataset name.
        split: string. A TFDS split expression, e.g. `"train"`, `"test"`,
            `"train+unlabelled"`. Defaults to `"train"`.
        data_dir: path or `None`. TFDS data directory; `None` means
            `$TFDS_DATA_DIR` or `~/tensorflow_datasets`.
        manual_dir: path or `None`. Folder with manually downloaded archives
            (or the ImageNet-100 folder).
        download: bool. Allow downloading and preparing. Defaults to `False`.
        as_numpy: bool. Return NumPy arrays instead of a `tf.data.Dataset`.
            Needs equally sized images (CIFAR, STL10). Defaults to `False`.
        image_size: int or `None`. Only for the image-folder datasets: see
            `load_image_folder`. Defaults to `None` (original sizes).

    Returns:
        A `tf.data.Dataset` of `(image, label)` with uint8 `(H, W, 3)` images
        and int32 labels (`-1` for STL10's unlabelled images) and the attribute
        `class_names` (from the dataset's info; `None` when it has none), or, with
        `as_numpy=True`, a tuple `(images, labels)` of NumPy arrays.

    Raises:
        DatasetNotFoundError: the data is not available locally.
    """
    name = _ALIASES.get(name.lower(), name.lower()) if "/" not in name else name
    if name in _FOLDER_DATASETS:
        dataset = _load_folder_dataset(name, split, data_dir, manual_dir, image_size)
        if as_numpy:
            return _to_numpy(dataset)
        return dataset

    import tensorflow_datasets as tfds

    split = _normalize_split(name, split)
    root = _default_data_dir(data_dir)
    try:
        builder = tfds.builder(name, data_dir=root)
    except Exception as e:  # Unknown name, or no code for it in this tfds.
        raise DatasetNotFoundError(
            f"Dataset '{name}' is not a known TFDS dataset ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}). Use one of cifar10, "
            "cifar100, stl10, imagenette, imagenet100, or --dataset=folder:PATH "
            "for an image folder."
        ) from e

    if not builder.is_prepared():
        _prepare_or_raise(builder, name, split, root, manual_dir, download)

    try:
        dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    except (ValueError, KeyError) as e:
        available = ", ".join(builder.info.splits.keys())
        raise ValueError(
            f"Unknown split {split!r} for dataset '{name}'. Available splits: "
            f"{available}."
        ) from e
    dataset = dataset.map(
        lambda image, label: (image, tf.cast(label, tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if as_numpy:
        return _to_numpy(dataset)
    label_feature = builder.info.features["label"] if "label" in builder.info.features else None
    dataset.class_names = list(getattr(label_feature, "names", None) or []) or None
    return dataset


def _prepare_or_raise(builder, name, split, root, manual_dir, download):
    """Prepares an unprepared builder if allowed and possible, else raises."""
    import tensorflow_datasets as tfds

    manual_builder = builder.MANUAL_DOWNLOAD_INSTRUCTIONS is not None
    archives = None if manual_builder else _required_archives(builder)
    looked_in = f"no prepared data in {builder.data_dir}"

    def error(reason):
        return DatasetNotFoundError(
            _not_found_message(name, split, root, looked_in, archives, reason)
        )

    if download:
        failure = "downloading or preparing it failed (no network access?)"
    elif manual_dir is None:
        raise error("it is not prepared and download=False")
    else:
        manual_dir = os.fspath(manual_dir)
        if not manual_builder:
            # Only prepare when every archive is there: tfds would otherwise
            # try to download the missing ones.
            if archives is None:
                raise error(
                    f"the archive names of '{name}' are unknown, so manual_dir "
                    f"'{manual_dir}' cannot be used without downloading"
                )
            missing = [a for a in archives if not os.path.exists(os.path.join(manual_dir, a))]
            if missing:
                raise error(f"manual_dir '{manual_dir}' lacks {', '.join(missing)}")
        failure = f"preparing it from manual_dir '{manual_dir}' failed"
    try:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                manual_dir=manual_dir, try_download_gcs=False
            )
        )
    except Exception as e:
        raise DatasetNotFoundError(
            _not_found_message(name, split, root, looked_in, archives, failure)
            + f"\nCause: {type(e).__name__}: {e}"
        ) from e


def _to_numpy(dataset):
    """Stacks a dataset of equally sized `(image, label)` into NumPy arrays."""
    import numpy as np

    images, labels = [], []
    try:
        for image, label in dataset.batch(4096).as_numpy_iterator():
            images.append(image)
            labels.append(label)
    except tf.errors.InvalidArgumentError as e:
        raise ValueError(
            "`as_numpy=True` needs equally sized images; this dataset's images "
            "differ in size. Use the tf.data.Dataset (as_numpy=False) or pass "
            "image_size."
        ) from e
    if not images:
        raise ValueError("The dataset is empty.")
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)
