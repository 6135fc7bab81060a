import numpy as np
import pytest
import tensorflow as tf

from keras_adios.data import (
    AugmentationConfig,
    DatasetNotFoundError,
    load_dataset,
    load_synthetic_shapes,
    make_pretrain_dataset,
)

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("spec, size", [("shapes32", 32), ("shapes64", 64), ("shapes", 32)])
def test_synthetic_specs(spec, size):
    images, labels = load_dataset(spec, split="test", num_images=12, seed=2)
    assert images.shape == (12, size, size, 3) and labels.shape == (12,)
    expected = load_synthetic_shapes("test", num_images=12, image_size=size, seed=2)
    np.testing.assert_array_equal(images, expected["images"])


def test_folder_spec(tmp_path, write_image_folder):
    write_image_folder(tmp_path / "flat", per_class=2)
    train = load_dataset(f"folder:{tmp_path / 'flat'}", split="train")
    assert isinstance(train, tf.data.Dataset) and int(train.cardinality()) == 4
    with pytest.raises(DatasetNotFoundError, match="'test'"):
        load_dataset(f"folder:{tmp_path / 'flat'}", split="test")
    write_image_folder(tmp_path / "split" / "train", per_class=2)
    write_image_folder(tmp_path / "split" / "test", per_class=1)
    test = load_dataset(f"folder:{tmp_path / 'split'}", split="test", image_size=8)
    assert int(test.cardinality()) == 2
    config = AugmentationConfig(8)
    (view, _), _ = next(iter(make_pretrain_dataset(test, config=config, batch_size=2)))
    assert view.shape == (2, 8, 8, 3)


def test_npz_spec(tmp_path):
    images = np.zeros((3, 4, 4, 3), "uint8")
    np.savez(tmp_path / "d.npz", images=images, labels=[0, 1, 0])
    loaded, labels = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert loaded.shape == (3, 4, 4, 3) and labels.tolist() == [0, 1, 0]


def test_tfds_spec_offline_error(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar10"):
        load_dataset("cifar10", split="test", data_dir=tmp_path)
