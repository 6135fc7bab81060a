"""The masker contract: what `keras_adios.ADIOS` expects of an occlusion model."""

import keras

from keras_adios.utils import validation


@keras.saving.register_keras_serializable(package="keras_adios")
class Masker(keras.layers.Layer):
    """Base class of the occlusion models `keras_adios.ADIOS` trains with.

    A masker maps images `(B, H, W, C)` to `N` masks `(B, H, W, N)` in
    float32 with values in `[0, 1]`, where 1 means "occluded": ADIOS forms
    the n-th masked view as `images * (1 - masks[..., n:n+1])`. The contract:

    - `num_masks`: the `N` above, fixed at construction.
    - `learned`: a class attribute. `True` for a masker ADIOS trains
      adversarially (its trainable weights get the masker optimizer and the
      masker phase); such a masker must produce at least 2 masks that sum
      to 1 at every pixel (e.g. a softmax over `N`), otherwise the single
      mask would cover every pixel and the sparsity penalty diverge. `False`
      for a fixed scheme (random patches, blocks): ADIOS then skips the
      masker phase and records nothing for it.
    - `call(images)`: the masks, computed in float32 whatever the layer's
      dtype policy (the sparsity penalty and coverages are float32).
      Subclasses implement it and call `self.check_images(shape)` first.
    - `compute_output_shape` / `compute_output_spec` come from the base.

    To write your own, subclass `Masker`, pass `num_masks` to
    `super().__init__`, set `learned`, implement `call` (and `build` if it has
    weights), and list your constructor arguments in `get_config`.
    `tests/harness.py` has the masker-contract test every masker in this
    package passes.

    Args:
        num_masks: int >= 1 (>= 2 for a learned masker). The number of masks.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    ```python
    import keras
    import keras_adios

    class CentreMasker(keras_adios.layers.Masker):
        # A fixed masker: occludes the central square of every image.
        learned = False

        def __init__(self, **kwargs):
            super().__init__(num_masks=1, **kwargs)

        def call(self, images):
            _, height, width = self.check_images(images.shape)
            rows = keras.ops.arange(height)[:, None]
            cols = keras.ops.arange(width)[None, :]
            inside = (
                (rows >= height // 4) & (rows < 3 * height // 4)
                & (cols >= width // 4) & (cols < 3 * width // 4)
            )
            mask = keras.ops.cast(inside, "float32")[None, :, :, None]
            return keras.ops.broadcast_to(mask, (keras.ops.shape(images)[0], height, width, 1))

    masks = CentreMasker()(keras.random.normal((2, 8, 8, 3)))  # (2, 8, 8, 1)
    ```
    """

    #: Whether ADIOS trains this masker adversarially (see the class docstring).
    learned = True

    def __init__(self, num_masks, **kwargs):
        super().__init__(**kwargs)
        minimum = 2 if self.learned else 1
        if not validation.is_int(num_masks) or num_masks < minimum:
            reason = (
                " A learned masker partitions every pixel among its masks, so "
                "with one mask it would occlude the whole image."
                if self.learned
                else ""
            )
            raise ValueError(
                f"`num_masks` of {type(self).__name__} must be an integer >= "
                f"{minimum}.{reason} Received: num_masks={num_masks!r}"
            )
        self.num_masks = int(num_masks)
        self.supports_masking = False

    def check_images(self, shape):
        """Checks an image batch shape; returns `(batch, height, width)`.

        Raises a `ValueError` unless `shape` is `(B, H, W, C)` with static
        `H`, `W` and `C`.
        """
        shape = tuple(shape)
        if len(shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects 4D images (batch, height, width, "
                f"channels). Received: input_shape={shape}"
            )
        if any(d is None for d in shape[1:]):
            raise ValueError(
                f"{type(self).__name__} needs a static image size and channel "
                f"count. Received: input_shape={shape}"
            )
        return shape[0], int(shape[1]), int(shape[2])

    def compute_output_shape(self, input_shape):
        self.check_images(input_shape)
        return tuple(input_shape[:-1]) + (self.num_masks,)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")
