"""`load_tfds` offline: nothing here touches the network.

A tiny manual-download TFDS builder, registered below, is prepared from
files written into `tmp_path`, then read back with `download=False`.
"""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_adios.data import AugmentationConfig, DatasetNotFoundError, load_tfds
from keras_adios.data import make_pretrain_dataset

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent

TINY_NAME = "keras_adios_tiny_images"


class KerasAdiosTinyImages(tfds.core.GeneratorBasedBuilder):
    """8x8 RGB images with 3 classes, read from `manual_dir/tiny.npz`."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Write tiny.npz into manual_dir."

    def _info(self):
        # `DatasetInfo(builder=self, ...)`: no package metadata needed.
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 3)),
                    "label": tfds.features.ClassLabel(num_classes=3),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        path = os.path.join(dl_manager.manual_dir, "tiny.npz")
        return {
            "train": self._generate_examples(path, "train"),
            "test": self._generate_examples(path, "test"),
        }

    def _generate_examples(self, path, split):
        with np.load(path) as data:
            images, labels = data[f"{split}_images"], data[f"{split}_labels"]
        for i in range(len(images)):
            yield i, {"image": images[i], "label": int(labels[i])}


def _write_tiny_archive(folder):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (12, 8, 8, 3), dtype="uint8"),
        "train_labels": np.arange(12) % 3,
        "test_images": rng.integers(0, 256, (5, 8, 8, 3), dtype="uint8"),
        "test_labels": np.arange(5) % 3,
    }
    os.makedirs(folder, exist_ok=True)
    np.savez(os.path.join(folder, "tiny.npz"), **arrays)
    return arrays


def _pairs(images, labels):
    return sorted((np.asarray(x).tobytes(), int(y)) for x, y in zip(images, labels))


def test_unprepared_dataset_fails_with_a_clear_message(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("download_and_prepare must not be called")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    with pytest.raises(DatasetNotFoundError) as info:
        load_tfds("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert "cifar10" in message and str(tmp_path) in message
    assert "download=True" in message and "tfds build" in message
    assert "manual_dir" in message and "--dataset=folder:PATH" in message
    assert "cifar-10-binary.tar.gz" in message
    assert isinstance(info.value, FileNotFoundError)
    assert not any(tmp_path.rglob("*.tar.gz"))  # nothing was downloaded


def test_stl10_split_spelling(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"split 'train\+unlabelled'"):
        load_tfds("stl10", split="train+unlabeled", data_dir=tmp_path)


def test_manual_dir_without_the_archive(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    with pytest.raises(DatasetNotFoundError, match="lacks cifar-100-binary.tar.gz"):
        load_tfds("cifar100", data_dir=tmp_path / "data", manual_dir=manual)


def test_unknown_dataset(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not a known TFDS dataset"):
        load_tfds("no_such_dataset_anywhere", data_dir=tmp_path)


def test_tiny_builder_prepared_from_manual_dir_then_loaded_offline(tmp_path):
    data_dir, manual = tmp_path / "data", tmp_path / "manual"
    arrays = _write_tiny_archive(manual)
    # Not prepared and no manual_dir: the offline error.
    with pytest.raises(DatasetNotFoundError, match=TINY_NAME):
        load_tfds(TINY_NAME, data_dir=data_dir)
    # Prepared from manual_dir, without download.
    dataset = load_tfds(TINY_NAME, split="train", data_dir=data_dir, manual_dir=manual)
    assert tfds.builder(TINY_NAME, data_dir=str(data_dir)).is_prepared()
    items = list(dataset.as_numpy_iterator())
    assert len(items) == 12 and items[0][0].dtype == np.uint8 and items[0][1].dtype == np.int32
    label_names = tfds.builder(TINY_NAME, data_dir=str(data_dir)).info.features["label"].names
    assert dataset.class_names == label_names and len(label_names) > 1
    # (TFDS shuffles the examples when writing them: compare as multisets.)
    assert _pairs(*zip(*items)) == _pairs(arrays["train_images"], arrays["train_labels"])
    # Now prepared: loads with download=False and no manual_dir.
    images, labels = load_tfds(TINY_NAME, split="test", data_dir=data_dir, as_numpy=True)
    assert images.shape == (5, 8, 8, 3) and labels.dtype == np.int32
    assert _pairs(images, labels) == _pairs(arrays["test_images"], arrays["test_labels"])
    # Straight into the pretraining pipeline.
    config = AugmentationConfig(8, blur_prob=0.0)
    pretrain = make_pretrain_dataset(dataset, config=config, batch_size=4)
    (view1, _), batch_labels = next(iter(pretrain))
    assert view1.shape == (4, 8, 8, 3) and batch_labels.shape == (4,)
    with pytest.raises(ValueError, match="Unknown split"):
        load_tfds(TINY_NAME, split="validation", data_dir=data_dir)


def test_imagenet100_from_a_folder(tmp_path, write_image_folder):
    root = tmp_path / "imagenet100"
    write_image_folder(root / "train", classes=("n01", "n02"), per_class=2)
    write_image_folder(root / "val", classes=("n01", "n02"), per_class=1)
    train = load_tfds("imagenet100", split="train", manual_dir=root)
    assert train.class_names == ["n01", "n02"] and int(train.cardinality()) == 4
    # data_dir holding an imagenet100/ folder works too; "test" reads val/.
    test = load_tfds("imagenet100s", split="test", data_dir=tmp_path, image_size=16)
    images, labels = load_tfds(
        "imagenet100", split="val", data_dir=tmp_path, image_size=16, as_numpy=True
    )
    assert int(test.cardinality()) == 2
    assert images.shape == (2, 16, 16, 3) and labels.tolist() == [0, 1]


def test_imagenet100_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="imagenet100.sh"):
        load_tfds("imagenet100", split="train", data_dir=tmp_path)
