"""Export a trained encoder for serving: a TensorFlow SavedModel with its input convention.

    python -m keras_adios.export --run_dir=runs/adios

Reads `run_dir/encoder_pixels.keras` (the encoder with the normalisation
inside: RGB images in [0, 1], channels last) and writes
`run_dir/encoder_savedmodel/` with Keras' `Model.export` (format
`"tf_saved_model"`; endpoint `serve`, also the `serving_default` signature),
plus `input_convention.json` inside that folder. The export is loaded back
with `tf.saved_model.load` and its features are compared with the Keras
model's on a batch of random images; a difference above 1e-4 is an error.

Backends: a `.keras` file does not depend on the backend that trained it, so
runs trained with PyTorch export too. The export itself runs on TensorFlow
(the default here) or JAX (through `jax2tf`); Keras' exporter on the PyTorch
backend needs `torch_xla`, which this project does not install, so with
`KERAS_BACKEND=torch` this command refuses and says so.

Serving (any TensorFlow runtime, no Keras or keras_adios needed):

```python
import tensorflow as tf
encoder = tf.saved_model.load("runs/adios/encoder_savedmodel")
features = encoder.serve(tf.cast(images_uint8, tf.float32) / 255.0)
```
"""

import json
import os
import shutil
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

#: The folder `export_encoder` writes inside a run folder.
EXPORT_DIR = "encoder_savedmodel"
_TOLERANCE = 1e-4

_RUN_DIR = flags.DEFINE_string("run_dir", None, "A folder written by keras_adios.train.")
_OUTPUT = flags.DEFINE_string("output", None, f"Where to write the SavedModel (default run_dir/{EXPORT_DIR}).")
flags.mark_flag_as_required("run_dir")


def export_encoder(run_dir, output=None, batch_size=4, seed=0):
    """Exports `run_dir/encoder_pixels.keras` as a TensorFlow SavedModel and checks it.

    Args:
        run_dir: a finished `keras_adios.train` run folder.
        output: path of the SavedModel folder; `None` means
            `run_dir/encoder_savedmodel`. An existing folder is replaced.
        batch_size: int, images in the check batch. Defaults to `4`.
        seed: int, seeds the check batch. Defaults to `0`.

    Returns:
        A dict: `path` (the SavedModel folder), `max_abs_difference` between
        the SavedModel's and Keras' features on the check batch, `image_size`
        and `feature_dim`.

    Raises:
        FileNotFoundError: `run_dir` has no `encoder_pixels.keras`.
        RuntimeError: the PyTorch backend (see the module docstring), or the
            exported model disagrees with Keras.

    Example:

    ```python
    from keras_adios.export import export_encoder
    info = export_encoder("runs/adios")   # runs/adios/encoder_savedmodel
    ```
    """
    import keras
    import numpy as np
    import tensorflow as tf

    if keras.backend.backend() == "torch":
        raise RuntimeError(
            "Keras exports SavedModels from the PyTorch backend only through torch_xla, which is not "
            "installed. The .keras files do not depend on the backend: run the export with "
            "KERAS_BACKEND=tensorflow (or jax), e.g. KERAS_BACKEND=tensorflow python -m keras_adios.export "
            f"--run_dir={run_dir}. Received: KERAS_BACKEND=torch"
        )
    source = os.path.join(run_dir, "encoder_pixels.keras")
    if not os.path.exists(source):
        raise FileNotFoundError(
            f"{source} not found: --run_dir must be a finished keras_adios.train run folder."
        )
    output = output or os.path.join(run_dir, EXPORT_DIR)
    if os.path.exists(output):
        shutil.rmtree(output)
    model = keras.models.load_model(source)
    model.export(output, format="tf_saved_model", verbose=False)
    convention = os.path.join(run_dir, "input_convention.json")
    if os.path.exists(convention):
        shutil.copy(convention, os.path.join(output, "input_convention.json"))

    image_shape = tuple(int(d) for d in model.input_shape[1:])
    images = np.random.default_rng(seed).uniform(size=(batch_size,) + image_shape).astype("float32")
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    loaded = tf.saved_model.load(output)  # kept: its variables live as long as this object
    served = loaded.serve(tf.constant(images)).numpy()
    difference = float(np.max(np.abs(served - expected)))
    if not difference <= _TOLERANCE:
        raise RuntimeError(
            f"The exported encoder in {output} disagrees with {source}: max |difference| "
            f"{difference:.3g} on a check batch (allowed: {_TOLERANCE})."
        )
    return {
        "path": output,
        "max_abs_difference": difference,
        "image_size": image_shape[0],
        "feature_dim": int(expected.shape[-1]),
    }


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags are written --name=value")
    try:
        info = export_encoder(_RUN_DIR.value, _OUTPUT.value)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        sys.exit(f"error: {str(e).strip() or type(e).__name__}")
    print(
        f"Exported {info['path']} (images {info['image_size']}x{info['image_size']}x3 in [0, 1] -> "
        f"{info['feature_dim']} features; matches Keras to {info['max_abs_difference']:.1e})."
    )


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
