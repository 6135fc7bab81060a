"""Keras layers of keras_adios: the ADIOS mask generator and baseline maskers."""

from keras_adios.layers.mask_generator import MaskGenerator
from keras_adios.layers.random_block_masker import RandomBlockMasker
from keras_adios.layers.random_patch_masker import RandomPatchMasker

__all__ = ["MaskGenerator", "RandomBlockMasker", "RandomPatchMasker"]
