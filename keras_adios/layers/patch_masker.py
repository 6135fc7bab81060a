"""`PatchMasker`: the base of the fixed (non-learned) maskers that occlude whole patches."""

import keras

from keras_adios.layers.masker import Masker
from keras_adios.layers.patch_grid import check_mask_ratio
from keras_adios.layers.patch_grid import patch_grid
from keras_adios.utils import validation


@keras.saving.register_keras_serializable(package="keras_adios")
class PatchMasker(Masker):
    """Base class of random maskers that occlude a fraction of a patch grid.

    One mask per image (`num_masks=1`), not learned: the image is divided
    into `patch_size x patch_size` patches, a subclass's `call` chooses
    which to occlude (1) using `self.seed_generator`, and returns float32
    masks `(batch, height, width, 1)`. This base validates and keeps
    `mask_ratio`, `patch_size` and `seed`, checks that the patch size
    divides the image (`patch_grid`), and serialises those three arguments;
    subclasses add their own. `RandomPatchMasker` and `RandomBlockMasker`
    are the two implementations.

    Args:
        mask_ratio: float in `(0, 1)`. The fraction of patches to occlude
            (each subclass says how it rounds).
        patch_size: int or `None`. Side of the patches in pixels; `None`
            uses `min(height, width) // 8`.
        seed: int or `None`. Seed of the layer's `SeedGenerator`.
        **kwargs: Base layer keyword arguments, such as `name`.

    Example:

    ```python
    import keras
    from keras import ops
    import keras_adios

    class TopRowsMasker(keras_adios.layers.PatchMasker):
        # Occludes the top `mask_ratio` of the patch rows.

        def call(self, images):
            size, rows, cols = self.grid(images.shape)
            top = round(self.mask_ratio * rows) * size
            hidden = ops.cast(ops.arange(images.shape[1]) < top, "float32")
            shape = (ops.shape(images)[0], images.shape[1], images.shape[2], 1)
            return ops.broadcast_to(hidden[None, :, None, None], shape)

    masks = TopRowsMasker(mask_ratio=0.25)(keras.random.normal((2, 32, 32, 3)))
    masks.shape  # (2, 32, 32, 1); the top 8 pixel rows are 1
    ```
    """

    learned = False

    def __init__(self, mask_ratio, patch_size=None, seed=None, **kwargs):
        super().__init__(num_masks=1, **kwargs)
        # === Config ===
        self.mask_ratio = check_mask_ratio(mask_ratio)
        self.patch_size = validation.check_positive_int(patch_size, "patch_size", allow_none=True)
        self.seed = validation.check_int(seed, "seed", allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def grid(self, input_shape):
        """`(patch_size, rows, cols)` of the patch grid for images of `input_shape`."""
        return patch_grid(self.__class__.__name__, input_shape, self.patch_size)

    def compute_output_shape(self, input_shape):
        self.grid(input_shape)
        return super().compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mask_ratio": self.mask_ratio, "patch_size": self.patch_size, "seed": self.seed})
        return config
