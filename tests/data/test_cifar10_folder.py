"""The CLI's data path on real CIFAR-10 photographs, where a copy is at hand.

The CIFAR-10 benchmarks (docs/quality.md) read `folder:data/cifar10`: CIFAR-10
as an image folder (`train/<class>/*.jpg`, `test/<class>/*.jpg`) linked or
copied into the checkout, or the folder `KERAS_ADIOS_CIFAR10_DIR` names.
Nothing in the package needs it and it is not in the repository, so these
tests skip, saying why, where it is missing; the same code paths are tested on
generated folders in `test_experiment_splits.py` and `test_image_folder.py`.
"""

import os

import numpy as np
import pytest

from keras_adios import experiment
from keras_adios.callbacks.mask_visualizer import spread_over_classes
from keras_adios.data import list_image_folder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CIFAR10 = os.environ.get("KERAS_ADIOS_CIFAR10_DIR", os.path.join(ROOT, "data", "cifar10"))
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = [
    pytest.mark.backend_independent,
    pytest.mark.skipif(
        not os.path.isdir(os.path.join(CIFAR10, "train")),
        reason=f"no CIFAR-10 image folder at {CIFAR10}: link or copy one there (train/<class>/*.jpg, "
        "test/<class>/*.jpg) or set KERAS_ADIOS_CIFAR10_DIR",
    ),
]


def _labels(dataset):
    return np.array([int(y) for y in dataset.map(lambda image, label: label).as_numpy_iterator()])


@pytest.mark.parametrize("split, per_class", [("train", 5000), ("test", 1000)])
def test_the_folder_holds_the_official_split(split, per_class):
    class_names, paths, labels = list_image_folder(os.path.join(CIFAR10, split))
    assert list(class_names) == CLASSES
    assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
    assert all(p.endswith(".jpg") for p in paths[:: len(paths) // 50])


def test_the_cli_streams_both_splits_of_32_pixel_images():
    train, held_out = experiment.load_splits(experiment.resolve_settings({"dataset": f"folder:{CIFAR10}"}))
    assert (train.size, held_out.size) == (50000, 10000)
    assert (train.num_classes, held_out.num_classes) == (10, 10)
    assert train.shapes == ((32, 32),) and held_out.shapes == ((32, 32),)


def test_the_mask_grid_shows_every_class_of_the_class_sorted_test_folder():
    # What experiment.py hands MaskVisualizer: a pool spread over the split, then the
    # classes in turn. The first images of the folder are all airplanes.
    settings = experiment.resolve_settings({"dataset": f"folder:{CIFAR10}", "num_vis_images": 10})
    _, held_out = experiment.load_splits(settings)
    pool = _labels(experiment.subsample(held_out, 50 * settings["num_vis_images"]))
    assert len(pool) >= 400 and len(set(pool[:20].tolist())) == 1  # the pool keeps the folder's order
    shown = pool[spread_over_classes(len(pool), settings["num_vis_images"], pool)]
    assert sorted(shown.tolist()) == list(range(10))


def test_the_sweeps_held_out_part_of_train_is_seeded_and_covers_every_class():
    # The masker sweep trains on 90 % of train/ and evaluates on the other 5,000 images.
    settings = experiment.resolve_settings({"dataset": f"folder:{os.path.join(CIFAR10, 'train')}", "seed": 0})
    assert experiment.holdout_folder(settings) == os.path.join(CIFAR10, "train")
    train, held_out = experiment.load_splits(settings)
    assert (train.size, held_out.size) == (45000, 5000)
    counts = np.bincount(_labels(held_out.data), minlength=10)
    assert counts.sum() == 5000 and counts.min() > 400 and counts.max() < 600, counts
    assert not set(train.data.file_paths) & set(held_out.data.file_paths)
