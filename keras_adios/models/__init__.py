"""Models: `ADIOS`."""

from keras_adios.models.adios import ADIOS
