"""Exceptions of `keras_adios.data`."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not available locally (and was not allowed to download).

    Raised by `load_tfds`, `load_image_folder` and `load_dataset` with one
    message naming the dataset, where it was looked for, and how to provide
    it. It subclasses `FileNotFoundError` (hence `OSError`), so
    `except FileNotFoundError` also catches it.
    """
