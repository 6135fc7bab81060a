import keras
import numpy as np
import pytest

from keras_adios import evaluation
from keras_adios.evaluation import evaluate_representation


def _encoder():
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Conv2D(4, 3, padding="same"), keras.layers.GlobalAveragePooling2D()]
    )


def _data(n, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = rng.normal(size=(n, 4, 4, 3)).astype("float32")
    images[..., 0] += labels[:, None, None]
    return images, labels


def _masker(x, training=False):
    """Two masks: the top half of every image and the rest."""
    top = np.zeros(np.shape(x)[:3], "float32")
    top[:, :2] = 1
    return np.stack([top, 1 - top], -1)


SETTINGS = dict(probe_epochs=3, knn_k=5, knn_temperature=0.1, seed=7)


def test_equals_the_protocol_computed_by_hand():
    train, held_out = _data(60, 0), _data(30, 1)
    foreground = np.zeros((30, 4, 4), bool)
    foreground[:, :2] = True
    variants = {"original": held_out, "mixed_rand": (held_out[0][::-1].copy(), held_out[1])}
    encoder = _encoder()
    scores = evaluate_representation(
        encoder, train, held_out, masker=_masker,
        mask_data={"images": held_out[0], "foreground": foreground}, background_variants=variants, **SETTINGS,
    )

    def by_hand(model):
        train_f, _ = evaluation.extract_features(model, train)
        eval_f, _ = evaluation.extract_features(model, held_out)
        probe, classifier = evaluation.linear_probe(
            train_f, train[1], eval_f, held_out[1], epochs=3, seed=7, return_classifier=True)
        knn = evaluation.knn_accuracy(train_f, train[1], eval_f, held_out[1], k=5, temperature=0.1)
        return probe["test_accuracy"], knn, classifier, eval_f

    probe, knn, classifier, eval_f = by_hand(encoder)
    keras.utils.set_random_seed(7)
    ref_probe, ref_knn, _, _ = by_hand(keras.models.clone_model(encoder))
    clustering = evaluation.kmeans_clustering_scores(eval_f, held_out[1], seed=7)
    masks = evaluation.evaluate_masks(_masker, held_out[0], foreground=foreground)
    robustness = evaluation.background_robustness(encoder, classifier, variants)
    assert scores["linear_probe_accuracy"] == pytest.approx(probe)
    assert scores["knn_accuracy"] == pytest.approx(knn)
    assert scores["untrained_linear_probe_accuracy"] == pytest.approx(ref_probe)
    assert scores["untrained_knn_accuracy"] == pytest.approx(ref_knn)
    assert scores["kmeans_nmi"] == pytest.approx(clustering["nmi"])
    assert scores["kmeans_ari"] == pytest.approx(clustering["ari"])
    assert scores["chance_accuracy"] == pytest.approx(1 / 3)
    assert scores["mask_foreground_iou"] == 1.0
    assert scores["mask_confidence"] == pytest.approx(masks["confidence"])
    for name, accuracy in robustness.items():
        assert scores[f"background_{name}_accuracy"] == pytest.approx(accuracy)
    # The probes measure something: the first channel carries the class.
    assert scores["linear_probe_accuracy"] > scores["chance_accuracy"]


def test_optional_parts_are_left_out():
    scores = evaluate_representation(
        _encoder(), _data(30, 0), _data(15, 1), masker=_masker, untrained_reference=False, **SETTINGS)
    assert not [k for k in scores if k.startswith(("untrained", "mask_", "background_"))]
    assert {"linear_probe_accuracy", "knn_accuracy", "kmeans_nmi", "chance_accuracy"} <= set(scores)


def test_batched_dataset_gives_the_same_scores_as_arrays():
    import tensorflow as tf

    train, held_out = _data(40, 0), _data(20, 1)
    as_arrays = evaluate_representation(_encoder(), train, held_out, **SETTINGS)
    as_datasets = evaluate_representation(
        _encoder(), tf.data.Dataset.from_tensor_slices(train).batch(16),
        tf.data.Dataset.from_tensor_slices(held_out).batch(16), **SETTINGS)
    assert as_datasets == pytest.approx(as_arrays)


def test_errors_say_what_was_received():
    train, held_out = _data(20, 0), _data(10, 1)
    with pytest.raises(ValueError, match="must carry labels"):
        evaluate_representation(_encoder(), train[0], held_out, **SETTINGS)
    with pytest.raises(ValueError, match=r"'images' key.*\['foreground'\]"):
        evaluate_representation(_encoder(), train, held_out, masker=_masker,
                                mask_data={"foreground": None}, **SETTINGS)
    with pytest.raises(ValueError, match="probe_epochs"):
        evaluate_representation(_encoder(), train, held_out, probe_epochs=0)
