"""Offline evaluation of ADIOS representations and masks.

Protocols follow the ADIOS / solo-learn code: frozen-encoder feature
extraction, linear probe, weighted kNN, k-means clustering scores, mask
quality against ground truth, background robustness and occlusion
(cutouts, learned masks). Everything except
the linear probe (trained with `keras.Model.fit`) is NumPy.
"""

from keras_adios.evaluation.background_robustness import background_robustness
from keras_adios.evaluation.clustering_metrics import adjusted_rand_index
from keras_adios.evaluation.clustering_metrics import contingency_matrix
from keras_adios.evaluation.clustering_metrics import fowlkes_mallows_index
from keras_adios.evaluation.clustering_metrics import mutual_information
from keras_adios.evaluation.clustering_metrics import normalized_mutual_info
from keras_adios.evaluation.feature_extraction import extract_features
from keras_adios.evaluation.kmeans import kmeans
from keras_adios.evaluation.kmeans import kmeans_clustering_scores
from keras_adios.evaluation.knn import knn_accuracy
from keras_adios.evaluation.knn import knn_classify
from keras_adios.evaluation.linear_probe import linear_probe
from keras_adios.evaluation.linear_probe import linear_probe_optimizer
from keras_adios.evaluation.mask_metrics import compute_masks
from keras_adios.evaluation.mask_metrics import evaluate_masks
from keras_adios.evaluation.mask_metrics import hard_mask_assignment
from keras_adios.evaluation.mask_metrics import mask_ari
from keras_adios.evaluation.mask_metrics import mask_confidence
from keras_adios.evaluation.mask_metrics import mask_coverage_spread
from keras_adios.evaluation.mask_metrics import mask_foreground_iou
from keras_adios.evaluation.occlusion import cutout
from keras_adios.evaluation.occlusion import most_occluding_mask
from keras_adios.evaluation.occlusion import occlusion_variants
from keras_adios.evaluation.representation import evaluate_representation

__all__ = [
    "adjusted_rand_index",
    "background_robustness",
    "compute_masks",
    "contingency_matrix",
    "cutout",
    "evaluate_masks",
    "evaluate_representation",
    "extract_features",
    "fowlkes_mallows_index",
    "hard_mask_assignment",
    "kmeans",
    "kmeans_clustering_scores",
    "knn_accuracy",
    "knn_classify",
    "linear_probe",
    "linear_probe_optimizer",
    "mask_ari",
    "mask_confidence",
    "mask_coverage_spread",
    "mask_foreground_iou",
    "most_occluding_mask",
    "mutual_information",
    "normalized_mutual_info",
    "occlusion_variants",
]
