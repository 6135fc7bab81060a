import os

import numpy as np
import pytest
from PIL import Image

from keras_adios.data import DatasetNotFoundError, load_image_folder

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent


def test_reads_images_and_labels_exactly(tmp_path, write_image_folder):
    written = write_image_folder(tmp_path, sizes=((20, 30), (16, 16)))
    # A nested folder under a class counts for that class; other files are ignored.
    os.makedirs(tmp_path / "dog" / "more")
    extra = np.full((8, 8, 3), 7, "uint8")
    Image.fromarray(extra).save(tmp_path / "dog" / "more" / "x.jpg", quality=100)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")

    dataset = load_image_folder(tmp_path)
    assert dataset.class_names == ["cat", "dog"]
    assert int(dataset.cardinality()) == 7
    items = list(dataset.as_numpy_iterator())
    by_path = dict(zip(dataset.file_paths, items))
    for path, (array, label) in written.items():
        image, read_label = by_path[path]
        np.testing.assert_array_equal(image, array)
        assert read_label == label
    extra_image, extra_label = by_path[str(tmp_path / "dog" / "more" / "x.jpg")]
    assert extra_label == 1 and extra_image.shape == (8, 8, 3)
    assert items[0][1].dtype == np.int32


def test_image_size_resizes_and_center_crops(tmp_path, write_image_folder):
    write_image_folder(tmp_path, sizes=((20, 40), (50, 30)))
    dataset = load_image_folder(tmp_path, image_size=12)
    shapes = {image.shape for image, _ in dataset.as_numpy_iterator()}
    assert shapes == {(12, 12, 3)}


def test_split_layout_agrees_with_tfds_image_folder(tmp_path, write_image_folder):
    import tensorflow_datasets as tfds

    write_image_folder(tmp_path / "train", classes=("a", "b", "c"), per_class=2, sizes=((10, 10),))
    write_image_folder(tmp_path / "val", classes=("a", "b", "c"), per_class=1, sizes=((10, 10),))
    ours = load_image_folder(tmp_path, split="train")
    assert ours.class_names == ["a", "b", "c"]
    ours_items = sorted((im.tobytes(), int(y)) for im, y in ours.as_numpy_iterator())

    builder = tfds.folder_dataset.ImageFolder(str(tmp_path))
    theirs = builder.as_dataset(split="train", as_supervised=True, shuffle_files=False)
    assert builder.info.features["label"].names == ["a", "b", "c"]
    theirs_items = sorted((im.tobytes(), int(y)) for im, y in theirs.as_numpy_iterator())
    assert ours_items == theirs_items
    assert int(load_image_folder(tmp_path, split="val").cardinality()) == 3


def test_missing_or_empty_folders(tmp_path, write_image_folder):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="No images found"):
        load_image_folder(tmp_path)  # empty folder
    os.makedirs(tmp_path / "cat")
    with pytest.raises(DatasetNotFoundError, match="1 class sub-folders"):
        load_image_folder(tmp_path)  # a class folder without images
    write_image_folder(tmp_path / "train")
    with pytest.raises(DatasetNotFoundError, match=r"Sub-folders of .*\['cat', 'train'\]"):
        load_image_folder(tmp_path, split="test")
