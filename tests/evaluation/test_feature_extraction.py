import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_adios.evaluation import extract_features

NUM = 10


def _encoder():
    """Conv + BatchNorm + pooling, with non-trivial BN moving statistics."""
    encoder = keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            keras.layers.Conv2D(4, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=0.5),
            keras.layers.GlobalAveragePooling2D(),
        ]
    )
    bn = encoder.layers[1]
    bn.moving_mean.assign(np.linspace(-1.0, 1.0, 4).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2.0, 4).astype("float32"))
    return encoder


def _data():
    rng = np.random.default_rng(0)
    images = (3.0 + 2.0 * rng.normal(size=(NUM, 6, 6, 3))).astype("float32")
    labels = np.arange(NUM) % 3
    return images, labels


def _variable_values(model):
    return [
        keras.ops.convert_to_numpy(keras.ops.copy(v)) for v in model.variables
    ]


def test_inference_mode_and_variables_unchanged():
    encoder = _encoder()
    images, _ = _data()
    before = _variable_values(encoder)
    features, labels = extract_features(encoder, images, batch_size=4)
    after = _variable_values(encoder)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert labels is None
    assert features.shape == (NUM, 4) and features.dtype == np.float32
    inference = keras.ops.convert_to_numpy(encoder(images, training=False))
    training = keras.ops.convert_to_numpy(encoder(images, training=True))
    np.testing.assert_allclose(features, inference, rtol=1e-5, atol=1e-5)
    # Batch statistics would give different features.
    assert not np.allclose(features, training, atol=1e-3)


class _Batches(keras.utils.PyDataset):
    def __init__(self, images, labels, batch_size):
        super().__init__()
        self.images, self.labels, self.batch_size = images, labels, batch_size

    def __len__(self):
        return int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.images[s], self.labels[s]


def test_every_data_form_gives_the_same_features():
    encoder = _encoder()
    images, labels = _data()
    expected, _ = extract_features(encoder, images, batch_size=NUM)
    ds = tf.data.Dataset.from_tensor_slices
    forms = {
        "tuple": (images, labels),
        "tensor": (keras.ops.convert_to_tensor(images), labels),
        "tf.data x": ds(images).batch(3),
        "tf.data (x, y)": ds((images, labels)).batch(3),
        "tf.data (x, y, w)": ds((images, labels, np.ones(NUM))).batch(4),
        "tf.data dict": ds({"image": images, "label": labels}).batch(4),
        "PyDataset": _Batches(images, labels, 4),
        "list of batches": [(images[:6], labels[:6]), (images[6:], labels[6:])],
    }
    for name, data in forms.items():
        features, y = extract_features(encoder, data, batch_size=3)
        np.testing.assert_allclose(
            features, expected, rtol=1e-5, atol=1e-5, err_msg=name
        )
        if name == "tf.data x":
            assert y is None
        else:
            np.testing.assert_array_equal(y, labels, err_msg=name)


def test_plain_callable_encoder():
    images, labels = _data()

    def encoder(x):  # no `training` argument
        return np.asarray(x).mean(axis=(1, 2))

    features, y = extract_features(encoder, (images, labels), batch_size=4)
    np.testing.assert_allclose(features, images.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_array_equal(y, labels)


def test_verbose_shows_a_progress_bar(capsys):
    images, _ = _data()
    extract_features(_encoder(), images, batch_size=4, verbose=1)
    assert "3/3" in capsys.readouterr().out


def test_invalid_data_raises():
    encoder = _encoder()
    images, labels = _data()
    with pytest.raises(ValueError, match="batched"):
        extract_features(encoder, tf.data.Dataset.from_tensor_slices(images))
    with pytest.raises(ValueError, match="Received"):
        extract_features(encoder, (images, labels[:3]))
    with pytest.raises(ValueError, match="Received"):
        extract_features(encoder, [(images[:5], labels[:5]), images[5:]])
    with pytest.raises(ValueError, match="Received"):
        extract_features(encoder, images, batch_size=0)
    with pytest.raises(ValueError, match="Received"):
        extract_features(None, images)
