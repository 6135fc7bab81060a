"""Fixtures shared by the layer tests: run a layer under the backend's jit."""

import keras
import numpy as np
import pytest


def _run_jitted(layer, images, repeats=1):
    """Calls `layer` on `images` `repeats` times inside a compiled function.

    TensorFlow: `tf.function(jit_compile=True)` with a dynamic batch size.
    JAX: `jax.jit` over `layer.stateless_call`, threading the non-trainable
    state (e.g. seed generators) from one call to the next. PyTorch: eager.
    Returns the list of outputs as numpy arrays.
    """
    images = np.asarray(images)
    if not layer.built:
        layer.build(images.shape)
    backend = keras.backend.backend()
    outputs = []
    if backend == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None,) + images.shape[1:], tf.float32)

        @tf.function(jit_compile=True, input_signature=[spec])
        def fn(x):
            return layer(x)

        for _ in range(repeats):
            outputs.append(fn(tf.constant(images)).numpy())
    elif backend == "jax":
        import jax

        @jax.jit
        def fn(trainable, non_trainable, x):
            return layer.stateless_call(trainable, non_trainable, x)

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        for _ in range(repeats):
            out, non_trainable = fn(trainable, non_trainable, images)
            outputs.append(np.asarray(out))
    elif backend == "torch":
        for _ in range(repeats):
            outputs.append(keras.ops.convert_to_numpy(layer(images)))
    else:
        raise AssertionError(f"Unsupported backend for these tests: {backend}")
    return outputs


@pytest.fixture
def run_jitted():
    return _run_jitted


def _docstring_example(cls):
    doc = cls.__doc__
    start = doc.index("```python") + len("```python")
    end = doc.index("```", start)
    lines = doc[start:end].splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines)


@pytest.fixture
def docstring_example():
    return _docstring_example
