import keras
import numpy as np
import pytest

from keras_adios.callbacks import MaskQualityMonitor
from keras_adios.evaluation import evaluate_masks
from keras_adios.evaluation import mask_confidence


def test_mask_confidence_from_uniform_to_hard():
    assert mask_confidence(np.full((2, 3, 3, 4), 0.25)) == pytest.approx(0.25)
    hard = np.eye(3, dtype="float32")[np.arange(9).reshape(1, 3, 3) % 3]
    assert mask_confidence(hard) == pytest.approx(1.0)
    mixed = np.concatenate([np.full((1, 3, 3, 3), 1 / 3), hard])
    assert mask_confidence(mixed) == pytest.approx((1 / 3 + 1) / 2)


def test_logs_confidence_and_iou_every_n_epochs(make_model, toy_data):
    (x, y), _ = toy_data
    model = make_model(num_masks=2)
    foreground = x[..., 0] > 0
    parts = (x[..., 1] > 0).astype(int)
    monitor = MaskQualityMonitor(x, foreground=foreground, parts=parts, every_n_epochs=2, batch_size=5)
    history = model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[monitor]).history
    for key in ("mask_confidence", "mask_foreground_iou", "mask_foreground_ari", "mask_parts_ari"):
        assert len(history[key]) == 2, key  # epochs 2 and 4
    # The last values are the final masker's scores on these images.
    expected = evaluate_masks(model.masker, x, foreground=foreground, parts=parts)
    assert history["mask_confidence"][-1] == pytest.approx(expected["confidence"])
    assert history["mask_foreground_iou"][-1] == pytest.approx(expected["foreground_iou"])
    masks = keras.ops.convert_to_numpy(model.masker(x))
    assert history["mask_confidence"][-1] == pytest.approx(float(np.max(masks, -1).mean()), rel=1e-5)
    assert 0.5 <= history["mask_confidence"][-1] <= 1.0


def test_without_ground_truth_only_confidence_and_coverage_spread(make_model, toy_data):
    (x, y), _ = toy_data
    model = make_model(num_masks=3)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[MaskQualityMonitor(x)]).history
    assert sorted(k for k in history if k.startswith("mask_")) == ["mask_confidence", "mask_coverage_spread"]
    assert 1 / 3 <= history["mask_confidence"][0] <= 1.0
    masks = keras.ops.convert_to_numpy(model.masker(x))
    expected = float(np.mean(np.std(masks.mean(axis=(1, 2)), axis=-1)))
    assert history["mask_coverage_spread"][0] == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_a_model_without_masker_logs_nothing(make_model, toy_data):
    (x, y), _ = toy_data
    model = make_model(with_masker=False)
    monitor = MaskQualityMonitor(x)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[monitor]).history
    assert not any(k.startswith("mask_") for k in history) and monitor.last_scores is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"images": np.zeros((4, 4, 3))}, r"\(B, H, W, C\).*Received: ndarray with shape \(4, 4, 3\)"),
        ({"every_n_epochs": 0}, r"every_n_epochs.*Received"),
        ({"batch_size": 1.5}, r"batch_size.*Received"),
    ],
)
def test_invalid_arguments(kwargs, match):
    kwargs = {"images": np.zeros((2, 4, 4, 3)), **kwargs}
    with pytest.raises(ValueError, match=match):
        MaskQualityMonitor(**kwargs)
