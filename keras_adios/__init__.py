"""keras_adios: ADIOS adversarial masking for self-supervised learning, in Keras 3.

Shi, Siddharth, Torr, Kosiorek, "Adversarial Masking for Self-Supervised
Learning", ICML 2022 (https://arxiv.org/abs/2201.13100).

Set `KERAS_BACKEND` to "tensorflow", "jax" or "torch" before importing.
"""

import os as _os
import sys as _sys

# The command-line tools (`python -m keras_adios.train`, `keras-adios-train`,
# ...) import TensorFlow without its C++ start-up lines, which read like
# errors ("Could not find cuda drivers", "failed call to cuInit"). Library
# imports are left alone. While Python locates a `-m` module, argv[0] is "-m".
if _sys.argv[:1] == ["-m"] or _os.path.basename(_sys.argv[0] if _sys.argv else "").startswith("keras-adios-"):
    from keras_adios.utils.quiet_import import import_tensorflow_quietly as _quiet

    _quiet()

# Every subpackage that defines serializable classes is imported here, so a
# plain `import keras_adios` is enough for `keras.models.load_model`.
from keras_adios import callbacks  # noqa: E402
from keras_adios import encoders  # noqa: E402
from keras_adios import evaluation  # noqa: E402
from keras_adios import layers  # noqa: E402
from keras_adios import losses  # noqa: E402
from keras_adios import objectives  # noqa: E402
from keras_adios import optimizers  # noqa: E402
from keras_adios import schedules  # noqa: E402
from keras_adios import trainers  # noqa: E402
from keras_adios.models import ADIOS  # noqa: E402
from keras_adios.version import __version__  # noqa: E402

_LAZY = ("data",)  # imports tensorflow-datasets: loaded on first use


def __getattr__(name):
    # `keras_adios.data` is imported on first use.
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"keras_adios.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'keras_adios' has no attribute {name!r}")
