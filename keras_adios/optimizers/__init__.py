"""Optimizers."""

from keras_adios.optimizers.lars import LARS

__all__ = ["LARS"]
