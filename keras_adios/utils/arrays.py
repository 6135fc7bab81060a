"""Array conversion shared by the evaluation and the callbacks."""

import keras
import numpy as np


def to_numpy(x, dtype=None):
    """Converts a NumPy array, backend tensor or array-like to NumPy."""
    if isinstance(x, keras.Variable):
        x = x.value
    if isinstance(x, np.ndarray):
        pass
    elif isinstance(x, (list, tuple, int, float, bool, np.generic)):
        x = np.asarray(x)
    elif hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensors
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    elif callable(getattr(x, "numpy", None)):  # tf tensors and variables
        # `.numpy()` avoids NumPy 2's `__array__(copy=...)` deprecation
        # warnings that `keras.ops.convert_to_numpy` triggers on TF/torch.
        x = np.asarray(x.numpy())
    else:
        try:
            x = keras.ops.convert_to_numpy(x)
        except Exception:  # e.g. nested python lists of other backends
            x = np.asarray(x)
    if dtype is not None:
        x = x.astype(dtype, copy=False)
    return x
