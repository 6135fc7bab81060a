"""keras_adios: ADIOS adversarial masking for self-supervised learning, in Keras 3.

Shi, Siddharth, Torr, Kosiorek, "Adversarial Masking for Self-Supervised
Learning", ICML 2022 (https://arxiv.org/abs/2201.13100).

Set `KERAS_BACKEND` to "tensorflow", "jax" or "torch" before importing.
"""

# Every subpackage that defines serializable classes is imported here, so a
# plain `import keras_adios` is enough for `keras.models.load_model`.
from keras_adios import callbacks
from keras_adios import encoders
from keras_adios import evaluation
from keras_adios import layers
from keras_adios import losses
from keras_adios import objectives
from keras_adios import optimizers
from keras_adios import schedules
from keras_adios import trainers
from keras_adios.models import ADIOS
from keras_adios.version import __version__

_LAZY = ("data",)  # imports tensorflow-datasets: loaded on first use


def __getattr__(name):
    # `keras_adios.data` is imported on first use.
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"keras_adios.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'keras_adios' has no attribute {name!r}")
