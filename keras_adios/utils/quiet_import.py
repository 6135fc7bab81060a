"""Importing TensorFlow without its C++ start-up lines on the terminal."""

import contextlib
import os
import sys


@contextlib.contextmanager
def silenced_stderr():
    """Sends the process' stderr (file descriptor 2, C++ included) to /dev/null meanwhile.

    TensorFlow's C++ runtime prints informational lines when it loads
    ("oneDNN custom operations are on", "Could not find cuda drivers", on some
    machines "failed call to cuInit ... UNKNOWN ERROR (303)": no GPU, not a
    failure) before `TF_CPP_MIN_LOG_LEVEL` applies. The command-line tools import
    TensorFlow inside this context so that users see only their own output.
    A Python exception raised inside still propagates, after stderr is back.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly():
    """`import tensorflow`, the Keras backend and TF's device discovery, without the C++ start-up lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with silenced_stderr():
        import tensorflow as tf

        import keras  # noqa: F401

        # Device discovery prints the cuInit line on machines without a GPU.
        tf.config.list_physical_devices()
