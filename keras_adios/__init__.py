"""keras_adios: ADIOS adversarial masking for self-supervised learning, in Keras 3.

Shi, Siddharth, Torr, Kosiorek, "Adversarial Masking for Self-Supervised
Learning", ICML 2022 (https://arxiv.org/abs/2201.13100).

Set `KERAS_BACKEND` to "tensorflow", "jax" or "torch" before importing.
"""

from keras_adios import losses
from keras_adios import objectives
from keras_adios import trainers
from keras_adios.models import ADIOS
from keras_adios.version import __version__

_LAZY = ("layers", "encoders", "optimizers", "schedules", "data", "evaluation", "callbacks")


def __getattr__(name):
    # Subpackages are imported on first use so `import keras_adios` stays fast.
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"keras_adios.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'keras_adios' has no attribute {name!r}")
