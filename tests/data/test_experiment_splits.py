"""`experiment.load_splits`: folders and TFDS stream, arrays stay arrays."""

import numpy as np
import pytest
import tensorflow as tf

from keras_adios import experiment
from keras_adios.data import image_folder_dataset, list_image_folder, make_pretrain_dataset
from keras_adios.data import AugmentationConfig

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent


def _settings(**overrides):
    return experiment.resolve_settings(dict(overrides))


def _files(dataset):
    return sorted(dataset.file_paths)


def test_a_folder_with_split_sub_folders_streams(tmp_path, write_image_folder):
    write_image_folder(tmp_path / "train", classes=("a", "b", "c"), per_class=4, sizes=((20, 30), (24, 24)))
    write_image_folder(tmp_path / "test", classes=("a", "b", "c"), per_class=2, sizes=((18, 40),))
    assert experiment.holdout_folder(_settings(dataset=f"folder:{tmp_path}")) is None
    train, held_out = experiment.load_splits(_settings(dataset=f"folder:{tmp_path}"))
    assert isinstance(train.data, tf.data.Dataset) and isinstance(held_out.data, tf.data.Dataset)
    assert (train.size, held_out.size) == (12, 6)
    assert (train.num_classes, held_out.num_classes) == (3, 3)
    assert train.image_size == 20 and set(train.shapes) == {(20, 30), (24, 24)}
    assert held_out.image_size == 18 and held_out.shapes == ((18, 40),)
    config = AugmentationConfig(experiment.image_size(_settings(), train), blur_prob=0.0)
    (view1, _), labels = next(iter(make_pretrain_dataset(train.data, config=config, batch_size=4)))
    assert view1.shape == (4, 20, 20, 3) and labels.shape == (4,)


def test_the_held_out_fraction_is_a_seeded_split_of_the_files(tmp_path, write_image_folder):
    write_image_folder(tmp_path, classes=("a", "b"), per_class=10)
    assert experiment.holdout_folder(_settings(dataset=f"folder:{tmp_path}")) == str(tmp_path)
    assert experiment.holdout_folder(_settings(dataset="shapes32")) is None
    splits = experiment.load_splits(_settings(dataset=f"folder:{tmp_path}", holdout_fraction=0.2))
    train, held_out = (split.data for split in splits)
    assert (splits[0].size, splits[1].size) == (16, 4)
    assert not set(train.file_paths) & set(held_out.file_paths)
    assert sorted(train.file_paths + held_out.file_paths) == sorted(list_image_folder(tmp_path)[1])
    again = experiment.load_splits(_settings(dataset=f"folder:{tmp_path}", holdout_fraction=0.2))
    assert _files(again[1].data) == _files(held_out)
    other = experiment.load_splits(_settings(dataset=f"folder:{tmp_path}", holdout_fraction=0.2, seed=1))
    assert _files(other[1].data) != _files(held_out)
    # The labels travel with their files.
    for path, (_, label) in zip(held_out.file_paths, held_out.as_numpy_iterator()):
        assert label == ("/b/" in path)


def test_built_in_shapes_are_arrays():
    train, held_out = experiment.load_splits(_settings(num_train_images=40, num_eval_images=20))
    assert isinstance(train.data, tuple) and train.data[0].shape == (40, 32, 32, 3)
    assert (train.size, held_out.size, train.image_size) == (40, 20, 32)
    assert train.num_classes == int(train.data[1].max()) + 1


@pytest.mark.parametrize("streamed", [True, False])
def test_subsample_spreads_over_a_split_stored_class_by_class(tmp_path, write_image_folder, streamed):
    write_image_folder(tmp_path, classes=("a", "b", "c", "d"), per_class=6)
    class_names, paths, labels = list_image_folder(tmp_path)
    if streamed:
        data = image_folder_dataset(paths, labels, class_names=class_names)
    else:
        data = (np.zeros((len(paths), 4, 4, 3), "uint8"), np.asarray(labels))
    split = experiment.Split(data, len(paths), 4, ((4, 4),))
    assert split.image_size == 4
    subset = experiment.subsample(split, 8)
    picked = [int(y) for _, y in subset.as_numpy_iterator()] if streamed else list(subset[1])
    assert len(picked) == 8 and sorted(set(picked)) == [0, 1, 2, 3]


def test_image_folder_dataset_checks_its_lists():
    with pytest.raises(ValueError, match="same length. Received: 2 paths and 1 labels"):
        image_folder_dataset(["a.png", "b.png"], [0])
    with pytest.raises(ValueError, match="empty"):
        image_folder_dataset([], [])
