"""Small backend-specific helpers used by the shared training maths."""

import contextlib

import keras


def no_grad():
    """Context in which no autograd graph is recorded (PyTorch only).

    On TensorFlow and JAX, `keras.ops.stop_gradient` and the choice of
    differentiated variables already prune unneeded gradients, so this is a
    no-op there. On PyTorch it avoids building graphs for forward passes whose
    gradients are never taken (e.g. the BYOL target branch).
    """
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()
