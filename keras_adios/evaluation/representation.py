"""The package's whole evaluation protocol for one trained ADIOS model."""

import keras
import numpy as np

from keras_adios.evaluation.background_robustness import background_robustness
from keras_adios.evaluation.feature_extraction import extract_features
from keras_adios.evaluation.kmeans import kmeans_clustering_scores
from keras_adios.evaluation.knn import knn_accuracy
from keras_adios.evaluation.linear_probe import linear_probe
from keras_adios.evaluation.mask_metrics import evaluate_masks
from keras_adios.utils.validation import check_positive_int


def evaluate_representation(
    encoder,
    train_data,
    eval_data,
    masker=None,
    mask_data=None,
    background_variants=None,
    probe_epochs=100,
    knn_k=20,
    knn_temperature=0.07,
    seed=0,
    untrained_reference=True,
):
    """Linear probe, kNN, k-means, the untrained reference, masks and backgrounds.

    This is the evaluation that `python -m keras_adios.train` writes to
    `evaluation.json` and `python -m keras_adios.evaluate` recomputes, as one
    function of arrays (or batched datasets) that needs no TensorFlow:

    1. the frozen encoder's features of `train_data` and `eval_data`
       (`extract_features`); a linear probe trained on the first and tested
       on the second (`linear_probe`, `probe_epochs`, `seed`), and weighted
       kNN (`knn_accuracy`, `knn_k`, `knn_temperature`);
    2. with `untrained_reference=True`, the same probe and kNN on a fresh
       initialisation of the encoder (`keras.models.clone_model` after
       `keras.utils.set_random_seed(seed)`): what random features already
       give on this data;
    3. k-means on the evaluation features (NMI and ARI against the labels)
       and the chance accuracy (one over the number of training classes);
    4. with a `masker` and `mask_data`, the masks' confidence, foreground
       IoU and ARIs (`evaluate_masks`);
    5. with `background_variants`, the probe of step 1, unchanged, on each
       variant of the evaluation images (`background_robustness`).

    Args:
        encoder: the trained encoder, a `keras.Model` mapping (normalised)
            images to features, e.g. `adios_model.encoder`.
        train_data: labelled training images: `(images, labels)` arrays or a
            batched `tf.data.Dataset` of them (what `extract_features` takes).
        eval_data: labelled evaluation images, in the same forms.
        masker: the mask generator (e.g. `adios_model.masker`), or None.
        mask_data: with a `masker`, a dict with `"images"` (normalised, as the
            masker takes them) and optionally `"foreground"` and `"parts"`
            ground truth, passed to `evaluate_masks`; or None (no mask scores).
        background_variants: dict mapping a variant name (`"original"`,
            `"only_fg"`, ...) to labelled images, or None.
        probe_epochs: int. Epochs of each linear probe.
        knn_k: int. Neighbours of the kNN classifier.
        knn_temperature: float. Temperature of the kNN votes.
        seed: int. Seed of the probes, of k-means and of the untrained copy.
        untrained_reference: bool. Also score an untrained copy of the encoder.

    Returns:
        A dict of Python floats: `linear_probe_accuracy`, `knn_accuracy`,
        `untrained_linear_probe_accuracy` and `untrained_knn_accuracy` (with
        the reference), `kmeans_nmi`, `kmeans_ari`, `chance_accuracy`,
        `mask_<score>` for each mask score and `background_<name>_accuracy`
        for each variant.

    Example:

    >>> import keras, numpy as np
    >>> from keras_adios.evaluation import evaluate_representation
    >>> x = np.random.default_rng(0).random((40, 8, 8, 3)).astype("float32")
    >>> y = np.arange(40) % 2
    >>> encoder = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten()])
    >>> scores = evaluate_representation(
    ...     encoder, (x[:30], y[:30]), (x[30:], y[30:]), probe_epochs=2, knn_k=5,
    ... )
    >>> sorted(scores)[:3]
    ['chance_accuracy', 'kmeans_ari', 'kmeans_nmi']
    >>> scores["chance_accuracy"]
    0.5
    """
    check_positive_int(probe_epochs, "probe_epochs")
    check_positive_int(knn_k, "knn_k")
    if mask_data is not None and (not isinstance(mask_data, dict) or "images" not in mask_data):
        raise ValueError(
            "`mask_data` must be a dict with an 'images' key (and optionally "
            f"'foreground' and 'parts'). Received: mask_data={type(mask_data).__name__}"
            + (f" with keys {sorted(mask_data)}" if isinstance(mask_data, dict) else "")
        )

    def probes(model):
        train_features, train_labels = extract_features(model, train_data)
        eval_features, eval_labels = extract_features(model, eval_data)
        for name, labels in (("train_data", train_labels), ("eval_data", eval_labels)):
            if labels is None:
                raise ValueError(
                    f"`{name}` must carry labels: pass `(images, labels)` or a "
                    "dataset of `(images, labels)` batches. Received images only."
                )
        probe, classifier = linear_probe(
            train_features, train_labels, eval_features, eval_labels,
            epochs=probe_epochs, seed=seed, return_classifier=True,
        )
        knn = knn_accuracy(
            train_features, train_labels, eval_features, eval_labels,
            k=knn_k, temperature=knn_temperature,
        )
        return float(probe["test_accuracy"]), float(knn), classifier, eval_features, (train_labels, eval_labels)

    results = {}
    probe, knn, classifier, eval_features, (train_labels, eval_labels) = probes(encoder)
    results.update(linear_probe_accuracy=probe, knn_accuracy=knn)
    if untrained_reference:
        keras.utils.set_random_seed(seed)
        probe, knn, _, _, _ = probes(keras.models.clone_model(encoder))
        results.update(untrained_linear_probe_accuracy=probe, untrained_knn_accuracy=knn)
    clustering = kmeans_clustering_scores(eval_features, eval_labels, seed=seed)
    results.update(
        kmeans_nmi=float(clustering["nmi"]),
        kmeans_ari=float(clustering["ari"]),
        chance_accuracy=float(1.0 / len(np.unique(train_labels))),
    )
    if masker is not None and mask_data is not None:
        scores = evaluate_masks(
            masker, mask_data["images"], foreground=mask_data.get("foreground"),
            parts=mask_data.get("parts"),
        )
        results.update({f"mask_{k}": float(v) for k, v in scores.items()})
    if background_variants:
        robustness = background_robustness(encoder, classifier, background_variants)
        results.update({f"background_{k}_accuracy": float(v) for k, v in robustness.items()})
    return results
