"""Keras callbacks for monitoring ADIOS training.

- `KNNMonitor`: weighted kNN accuracy of `model.encoder` every n epochs,
  logged as `val_knn_accuracy`.
- `MaskVisualizer`: PNG (and optionally TensorBoard) grids of the masker's
  masks and the masked images every n epochs; `render_mask_grid` renders
  the same grid as an array.
- `MaskQualityMonitor`: mask confidence (and IoU/ARI against ground truth)
  every n epochs, logged as `mask_confidence`, `mask_foreground_iou`, ...
- `MetricsLogger`: the history so far as `metrics.json` and `metrics.csv`.
- `MomentumSchedule`: gives BYOL's EMA momentum schedule its length from `fit`.
- `NonFiniteGuard`: stops `fit` with `NonFiniteError` at the first NaN/inf
  loss, metric or gradient (ADIOS' `nonfinite` metric).
"""

from keras_adios.callbacks.knn_monitor import KNNMonitor
from keras_adios.callbacks.mask_grid import render_mask_grid
from keras_adios.callbacks.mask_quality_monitor import MaskQualityMonitor
from keras_adios.callbacks.mask_visualizer import MaskVisualizer
from keras_adios.callbacks.mask_visualizer import spread_over_classes
from keras_adios.callbacks.metrics_logger import MetricsLogger
from keras_adios.callbacks.momentum_schedule import MomentumSchedule
from keras_adios.callbacks.non_finite_guard import NonFiniteError
from keras_adios.callbacks.non_finite_guard import NonFiniteGuard

__all__ = [
    "KNNMonitor",
    "MaskQualityMonitor",
    "MaskVisualizer",
    "spread_over_classes",
    "MetricsLogger",
    "MomentumSchedule",
    "NonFiniteError",
    "NonFiniteGuard",
    "render_mask_grid",
]
