import math

import keras
import numpy as np
import pytest

from keras_adios.evaluation import linear_probe


def _separable(seed=0, n=240, dim=12, classes=3, offset=0.0, scale=1.0):
    """Labels = argmax of a fixed linear map, with a margin."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(dim, classes))
    x = rng.normal(size=(4 * n, dim))
    logits = x @ w
    top2 = np.sort(logits, axis=1)[:, -2:]
    x = x[top2[:, 1] - top2[:, 0] > 0.5][:n]  # keep a margin
    y = np.argmax(x @ w, axis=1)
    return (x * scale + offset).astype("float32"), y


def test_separable_features_are_learned_and_classifier_is_returned():
    # Large offset and scale: the built-in standardisation must handle them.
    x, y = _separable(offset=50.0, scale=100.0)
    results, classifier = linear_probe(
        x[:160],
        y[:160],
        x[160:],
        y[160:],
        epochs=20,
        batch_size=32,
        learning_rate=0.05,
        return_classifier=True,
    )
    assert results["train_accuracy"] >= 0.98
    assert results["test_accuracy"] >= 0.95
    assert results["train_loss"] < math.log(3) / 2
    assert results["num_classes"] == 3 and results["optimizer"] == "adam"
    # The classifier maps *raw* features to logits and agrees with the
    # reported accuracy.
    logits = keras.ops.convert_to_numpy(classifier(x[160:]))
    assert logits.shape == (len(x) - 160, 3)
    accuracy = np.mean(np.argmax(logits, axis=1) == y[160:])
    assert accuracy == pytest.approx(results["test_accuracy"])


def test_random_labels_give_chance_test_accuracy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8)).astype("float32")
    y = rng.integers(0, 4, size=400)
    results = linear_probe(
        x[:300], y[:300], x[300:], y[300:], epochs=10, batch_size=64
    )
    assert results["test_accuracy"] < 0.42  # chance is 0.25
    assert results["test_loss"] > math.log(4) - 0.2


def test_deterministic_with_a_seed():
    x, y = _separable(seed=2, n=120)
    kwargs = dict(epochs=5, batch_size=16, seed=3)
    first = linear_probe(x[:80], y[:80], x[80:], y[80:], **kwargs)
    second = linear_probe(x[:80], y[:80], x[80:], y[80:], **kwargs)
    assert first == second
    # The seed drives the shuffling: another seed gives another run.
    kwargs["seed"] = 4
    other = linear_probe(x[:80], y[:80], x[80:], y[80:], **kwargs)
    assert other["train_loss"] != first["train_loss"]


@pytest.mark.parametrize("optimizer", ["sgd", "lars"])
def test_authors_schedules(optimizer):
    x, y = _separable(seed=5, n=120)
    results = linear_probe(
        x[:80],
        y[:80],
        x[80:],
        y[80:],
        epochs=15,
        batch_size=16,
        optimizer=optimizer,
    )
    assert results["learning_rate"] == 0.1
    # Both reduce the loss below chance level (log 3 with zero weights).
    assert results["train_loss"] < math.log(3) - 0.1
    if optimizer == "sgd":
        assert results["test_accuracy"] >= 0.9


def test_without_test_set_and_explicit_num_classes():
    x, y = _separable(seed=6, n=60)
    results, classifier = linear_probe(
        x, y, num_classes=5, epochs=2, batch_size=32, return_classifier=True
    )
    assert "test_accuracy" not in results
    assert results["num_classes"] == 5
    assert classifier.output_shape == (None, 5)


def test_invalid_arguments_raise():
    x, y = _separable(seed=7, n=20)
    with pytest.raises(ValueError, match="optimizer"):
        linear_probe(x, y, optimizer="rmsprop")
    with pytest.raises(ValueError, match="Received"):
        linear_probe(x, y, x)  # test features without test labels
    with pytest.raises(ValueError, match="Received"):
        linear_probe(x, y[:5])
    with pytest.raises(ValueError, match="Received"):
        linear_probe(x, y, num_classes=1)
    with pytest.raises(ValueError, match="Received"):
        linear_probe(x, y, epochs=0)
