import glob
import io
import json
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_adios.callbacks import MaskVisualizer
from keras_adios.callbacks import render_mask_grid

MEAN = np.array([0.5, 0.4, 0.3], "float32")
STD = np.array([0.25, 0.2, 0.3], "float32")


def _read_png(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_writes_one_png_per_epoch_with_the_grid(make_model, toy_data, tmp_path):
    (x, y), _ = toy_data
    model = make_model(num_masks=3)
    out = tmp_path / "masks"
    visualizer = MaskVisualizer(
        x[:4], out, denormalize=(MEAN, STD), max_images=4, scale=4
    )
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[visualizer])

    files = sorted(os.listdir(out))
    assert files == ["masks_epoch_001.png", "masks_epoch_002.png"]
    grid = _read_png(out / "masks_epoch_002.png")
    # 4 rows of 32-px tiles (8 px x4), 1 + 2*3 columns, 2-px separators.
    assert grid.shape == (4 * 32 + 3 * 2, 7 * 32 + 6 * 2, 3)
    # The last PNG is exactly the grid of the final masker on the images.
    masks = keras.ops.convert_to_numpy(model.masker(x[:4], training=False))
    expected = render_mask_grid(x[:4], masks, denormalize=(MEAN, STD), scale=4)
    np.testing.assert_array_equal(grid, expected)
    # Masked tile (row 1, mask 0) = denormalised x * (1 - m_0), upscaled.
    m = masks[1, ..., :1]
    masked = np.round(np.clip((x[1] * (1 - m)) * STD + MEAN, 0, 1) * 255)
    tile = grid[34 : 34 + 32, 2 * 34 : 2 * 34 + 32]
    np.testing.assert_allclose(tile[::4, ::4], masked, atol=1)
    assert visualizer.last_path == str(out / "masks_epoch_002.png")


def test_every_n_epochs_and_tensorboard(make_model, toy_data, tmp_path):
    (x, y), _ = toy_data
    model = make_model(num_masks=2)
    visualizer = MaskVisualizer(
        (x, y),
        tmp_path / "png",
        every_n_epochs=2,
        max_images=2,
        scale=2,
        tensorboard_dir=tmp_path / "tb",
        hard=True,
    )
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[visualizer])
    assert sorted(os.listdir(tmp_path / "png")) == [
        "masks_epoch_002.png",
        "masks_epoch_004.png",
    ]
    grid = _read_png(tmp_path / "png" / "masks_epoch_004.png")
    assert grid.shape == (2 * 16 + 2, 5 * 16 + 4 * 2, 3)
    # Hard masks: mask tiles are pure black/white.
    assert set(np.unique(grid[:16, 18:34])) <= {0, 255}

    events = glob.glob(str(tmp_path / "tb" / "events.out.tfevents*"))
    assert len(events) == 1
    steps = {}
    for event in tf.compat.v1.train.summary_iterator(events[0]):
        for value in event.summary.value:
            if value.tag == "masks":
                width, height, png = tf.make_ndarray(value.tensor)
                image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
                steps[event.step] = (int(width), int(height), image)
    assert sorted(steps) == [2, 4]
    width, height, image = steps[4]
    assert (height, width) == grid.shape[:2]
    np.testing.assert_array_equal(image, grid)


def test_model_without_masker_warns_once_and_writes_nothing(
    make_model, toy_data, tmp_path
):
    (x, y), _ = toy_data
    model = make_model(with_masker=False)
    visualizer = MaskVisualizer(x, tmp_path / "masks")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            x, y, batch_size=8, epochs=2, verbose=0, callbacks=[visualizer]
        )
    messages = [
        str(w.message) for w in caught if "no `masker`" in str(w.message)
    ]
    assert len(messages) == 1
    assert not (tmp_path / "masks").exists()


def test_config_and_invalid_arguments(tmp_path):
    images = np.zeros((3, 4, 4, 3), "float32")
    visualizer = MaskVisualizer(
        images, tmp_path, denormalize=(MEAN, STD), every_n_epochs=5
    )
    config = visualizer.get_config()
    json.dumps(config)
    assert config["every_n_epochs"] == 5
    assert config["denormalize"][0] == pytest.approx(MEAN.tolist())
    with pytest.raises(ValueError, match="Received"):
        MaskVisualizer(images[0], tmp_path)
    with pytest.raises(ValueError, match="Received"):
        MaskVisualizer(images, tmp_path, every_n_epochs=0)
    with pytest.raises(ValueError, match="Received"):
        MaskVisualizer(images, tmp_path, occluded="white")
    with pytest.raises(ValueError, match="Received"):
        MaskVisualizer(images, "")


def test_spread_over_classes_takes_the_classes_in_turn():
    from keras_adios.callbacks import spread_over_classes

    # A class-sorted split (like an image folder): 3 classes of 4 images, then 2 unlabelled.
    labels = np.array([5] * 4 + [2] * 4 + [7] * 4 + [-1] * 2)
    picked = spread_over_classes(len(labels), 7, labels)
    assert labels[picked].tolist() == [5, 2, 7, 5, 2, 7, 5]
    assert picked.tolist() == [0, 4, 8, 1, 5, 9, 2]
    assert labels[spread_over_classes(len(labels), 14, labels)][-2:].tolist() == [-1, -1]
    assert spread_over_classes(12, 4).tolist() == [0, 3, 6, 9]
    assert spread_over_classes(3, 8).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="one entry per image"):
        spread_over_classes(4, 2, labels[:3])


def test_a_class_sorted_split_shows_every_class(tmp_path):
    images = np.arange(12, dtype="float32").reshape(12, 1, 1, 1) * np.ones((1, 4, 4, 3), "float32")
    labels = np.repeat(np.arange(3), 4)
    visualizer = MaskVisualizer((images, labels), str(tmp_path), max_images=3)
    # Image i holds the value i: one image of each class, the first of each.
    assert visualizer.images[:, 0, 0, 0].tolist() == [0.0, 4.0, 8.0]
    assert MaskVisualizer(images, str(tmp_path), max_images=3).images[:, 0, 0, 0].tolist() == [0.0, 4.0, 8.0]
