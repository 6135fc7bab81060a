"""`PatchMasker`: the shared base of the fixed patch maskers."""

import keras
import numpy as np
import pytest

from harness import docstring_code, image_batch, run_masker_contract_test, run_serialization_test
from keras_adios.layers import PatchMasker, RandomBlockMasker, RandomPatchMasker


def _example_class():
    namespace = {}
    exec(docstring_code(PatchMasker), namespace)
    return namespace["TopRowsMasker"], namespace["masks"]


def test_docstring_subclass_passes_the_masker_contract():
    cls, masks = _example_class()
    assert tuple(masks.shape) == (2, 32, 32, 1)
    values = np.asarray(masks)
    assert values[:, :8].min() == 1 and values[:, 8:].max() == 0
    keras.saving.register_keras_serializable(package="test_patch_masker")(cls)  # for the round trip
    masker = cls(mask_ratio=0.25, patch_size=8)
    run_masker_contract_test(masker, image_batch(batch=4, height=32, width=32))


@pytest.mark.parametrize("cls", [RandomPatchMasker, RandomBlockMasker])
def test_the_maskers_share_the_base_arguments(cls):
    masker = cls(mask_ratio=0.5, patch_size=4, seed=3)
    assert isinstance(masker, PatchMasker) and not masker.learned and masker.num_masks == 1
    config = run_serialization_test(masker).get_config()
    assert (config["mask_ratio"], config["patch_size"], config["seed"]) == (0.5, 4, 3)
    with pytest.raises(ValueError, match="divide"):
        masker.compute_output_shape((2, 30, 30, 3))
    with pytest.raises(ValueError, match="mask_ratio"):
        cls(mask_ratio=1.5)
