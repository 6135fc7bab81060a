"""Keras layers of keras_adios: the masker contract, the ADIOS mask generator, baselines.

- `Masker`: the base class (contract) of every occlusion model ADIOS uses.
- `BatchNormalization`: Keras' layer, whose `synchronized=True` also works in
  PyTorch process groups.
- `Conv2D`: Keras' layer, with a fast kernel gradient for JAX on CPUs.
- `MaskGenerator`: the authors' UNet with a softmax over N masks (learned).
- `PatchMasker`: the base of the fixed patch maskers; `RandomPatchMasker`,
  `RandomBlockMasker`: MAE / BEiT-style fixed baselines.
"""

from keras_adios.layers.batch_normalization import BatchNormalization
from keras_adios.layers.conv2d import Conv2D
from keras_adios.layers.mask_generator import MaskGenerator
from keras_adios.layers.masker import Masker
from keras_adios.layers.patch_masker import PatchMasker
from keras_adios.layers.random_block_masker import RandomBlockMasker
from keras_adios.layers.random_patch_masker import RandomPatchMasker

__all__ = ["BatchNormalization", "Conv2D", "MaskGenerator", "Masker",
    "PatchMasker", "RandomBlockMasker", "RandomPatchMasker"]
