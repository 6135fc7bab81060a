import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_adios.evaluation import background_robustness
from keras_adios.evaluation import extract_features
from keras_adios.evaluation import linear_probe


def _encoder():
    # Features: the mean of each channel over the image.
    return keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.GlobalAveragePooling2D()]
    )


def _images(labels, background_labels, rng):
    """Toy "objects on backgrounds".

    The object (a 2x2 centre patch, red channel) carries the class weakly;
    the background (green channel, everywhere else) carries a label
    strongly: the class itself in the training set ("spurious" background).
    """
    n = len(labels)
    images = 0.1 * rng.normal(size=(n, 4, 4, 3))
    centre = np.zeros((4, 4), bool)
    centre[1:3, 1:3] = True
    images[:, centre, 0] += (0.15 * labels)[:, None]
    images[:, ~centre, 1] += (3.0 * background_labels)[:, None]
    return images.astype("float32")


def _setting():
    rng = np.random.default_rng(0)
    train_y = rng.integers(0, 2, size=200)
    test_y = rng.integers(0, 2, size=100)
    train = (_images(train_y, train_y, rng), train_y)
    variants = {
        "original": (_images(test_y, test_y, rng), test_y),
        "only_fg": (_images(test_y, np.zeros_like(test_y), rng), test_y),
        "mixed_rand": (_images(test_y, 1 - test_y, rng), test_y),
    }
    return train, variants


def test_background_shortcut_is_exposed():
    train, variants = _setting()
    accuracies = background_robustness(
        _encoder(),
        None,
        variants,
        train_data=train,
        probe_kwargs={"epochs": 15, "batch_size": 32},
    )
    assert list(accuracies) == ["original", "only_fg", "mixed_rand"]
    assert accuracies["original"] >= 0.95
    # The probe leans on the background: swapping it flips most predictions.
    assert accuracies["mixed_rand"] <= 0.5
    assert accuracies["mixed_rand"] < accuracies["only_fg"] < 1.0


def test_pretrained_classifier_gives_the_same_numbers():
    train, variants = _setting()
    encoder = _encoder()
    features, labels = extract_features(encoder, train)
    probe_kwargs = {"epochs": 5, "batch_size": 32, "seed": 1}
    _, classifier = linear_probe(
        features, labels, return_classifier=True, **probe_kwargs
    )
    with_classifier = background_robustness(encoder, classifier, variants)
    refitted = background_robustness(
        encoder, None, variants, train_data=train, probe_kwargs=probe_kwargs
    )
    assert with_classifier == refitted
    for name, (images, y) in variants.items():
        logits = keras.ops.convert_to_numpy(
            classifier(extract_features(encoder, images)[0])
        )
        expected = np.mean(np.argmax(logits, axis=1) == y)
        assert with_classifier[name] == pytest.approx(expected)


def test_callable_classifier_and_dataset_variants():
    _, variants = _setting()

    def green_wins(features):  # class 1 iff the mean green value is > 1.125
        return np.stack([np.full(len(features), 1.125), features[:, 1]], axis=1)

    ds = {
        name: tf.data.Dataset.from_tensor_slices(data).batch(16)
        for name, data in variants.items()
    }
    accuracies = background_robustness(_encoder(), green_wins, ds)
    for name, (images, labels) in variants.items():
        green = images[..., 1].mean(axis=(1, 2))
        expected = np.mean((green > 1.125).astype(int) == labels)
        assert accuracies[name] == pytest.approx(expected)
    # A pure background classifier: perfect on the original images, always
    # wrong when the background comes from the other class.
    assert accuracies["original"] == 1.0
    assert accuracies["mixed_rand"] == 0.0


def test_invalid_arguments_raise():
    train, variants = _setting()
    with pytest.raises(ValueError, match="Received"):
        background_robustness(_encoder(), None, variants)
    with pytest.raises(ValueError, match="Received"):
        background_robustness(_encoder(), None, [], train_data=train)
    with pytest.raises(ValueError, match="labels"):
        background_robustness(
            _encoder(), lambda f: f, {"x": variants["original"][0]}
        )
