"""Data for keras_adios: sources, the two-view SSL augmentation, pipelines.

* Sources: `load_synthetic_shapes` (built-in, no download) with
  `background_variants`; `load_tfds` (CIFAR-10/100, STL10, Imagenette,
  ImageNet-100 folders; offline-safe); `load_image_folder` (and `list_image_folder` /
  `image_folder_dataset` for a chosen list of files); NumPy arrays
  (`validate_arrays`, `load_npz`); `load_dataset` dispatches on a name.
* Augmentation: `AugmentationConfig` (with presets), `augment_pair`,
  `augment_view`, `eval_transform`, `normalize`, `denormalize`. The
  individual stateless ops are in `keras_adios.data.augmentation_ops`.
* Pipelines: `make_pretrain_dataset`, `make_eval_dataset`.
"""

from keras_adios.data.array_source import load_npz, validate_arrays
from keras_adios.data.augmentation import (
    augment_pair,
    augment_view,
    denormalize,
    eval_transform,
    normalize,
)
from keras_adios.data.augmentation_config import AugmentationConfig
from keras_adios.data.background_variants import background_variants
from keras_adios.data.dataset_loader import load_dataset, synthetic_shapes_options
from keras_adios.data.errors import DatasetNotFoundError
from keras_adios.data.image_folder import image_folder_dataset, list_image_folder, load_image_folder
from keras_adios.data.pipeline import make_eval_dataset, make_pretrain_dataset
from keras_adios.data.synthetic_shapes import CLASS_NAMES, load_synthetic_shapes
from keras_adios.data.tfds_source import load_tfds

__all__ = [
    "AugmentationConfig",
    "CLASS_NAMES",
    "DatasetNotFoundError",
    "augment_pair",
    "augment_view",
    "background_variants",
    "denormalize",
    "eval_transform",
    "image_folder_dataset",
    "list_image_folder",
    "load_dataset",
    "load_image_folder",
    "load_npz",
    "load_synthetic_shapes",
    "load_tfds",
    "make_eval_dataset",
    "make_pretrain_dataset",
    "normalize",
    "synthetic_shapes_options",
    "validate_arrays",
]
