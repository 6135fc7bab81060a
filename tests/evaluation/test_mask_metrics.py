import keras
import numpy as np
import pytest
from scipy.special import comb

from keras_adios.evaluation import evaluate_masks
from keras_adios.evaluation import mask_coverage_spread
from keras_adios.evaluation import hard_mask_assignment
from keras_adios.evaluation import mask_ari
from keras_adios.evaluation import mask_foreground_iou


def _left_right_masks(num_images=1, soft=False):
    """N=2 masks on 4x4 images: mask 0 = left half, mask 1 = right half."""
    left = np.zeros((num_images, 4, 4), "float32")
    left[:, :, :2] = 1.0
    if soft:  # still argmax-equivalent to the hard masks
        left = 0.3 + 0.4 * left  # 0.7 on the left, 0.3 on the right
    return np.stack([left, 1.0 - left], axis=-1)


def test_hard_mask_assignment():
    masks = _left_right_masks(soft=True)
    expected = np.array([[0, 0, 1, 1]] * 4)
    np.testing.assert_array_equal(hard_mask_assignment(masks)[0], expected)
    # A single mask is thresholded at 0.5 (1 = inside the mask).
    single = np.array([[[[0.6], [0.4]]]])
    np.testing.assert_array_equal(hard_mask_assignment(single), [[[1, 0]]])


def test_foreground_iou_on_hand_made_masks():
    masks = _left_right_masks(num_images=2, soft=True)
    foreground = np.zeros((2, 4, 4), bool)
    # Image 0: foreground = top-left 2x2 block (4 px). The left-half mask
    # (8 px) covers it: IoU 4/8; the right-half mask: 0/12. Best: 0.5.
    foreground[0, :2, :2] = True
    # Image 1: foreground = the left half exactly: IoU 1.
    foreground[1, :, :2] = True
    assert mask_foreground_iou(masks, foreground) == pytest.approx(0.75)
    # (B, H, W, 1) and {0, 1} integer foregrounds are accepted too.
    assert mask_foreground_iou(
        masks, foreground[..., None].astype("int32")
    ) == pytest.approx(0.75)


def test_foreground_iou_uses_the_best_mask():
    masks = _left_right_masks()
    foreground = np.zeros((1, 4, 4), bool)
    foreground[0, :, 2:] = True  # the right half: mask 1 matches exactly
    assert mask_foreground_iou(masks, foreground) == 1.0


def test_foreground_iou_single_mask_is_thresholded():
    foreground = np.zeros((1, 4, 4), bool)
    foreground[0, 1:3, 1:3] = True  # 4 px
    mask = np.where(foreground, 0.7, 0.3)[..., None]
    assert mask_foreground_iou(mask, foreground) == 1.0
    # Below 0.5 everywhere: the mask is empty, IoU 0.
    assert mask_foreground_iou(mask * 0.5, foreground) == 0.0
    # Mask = top two rows (8 px) against the 4 px block: overlap 2, union 10.
    top = np.zeros((1, 4, 4, 1), "float32")
    top[0, :2] = 1.0
    assert mask_foreground_iou(top, foreground) == pytest.approx(2 / 10)


def test_empty_foreground_and_empty_mask_count_as_a_match():
    foreground = np.zeros((1, 4, 4), bool)
    assert mask_foreground_iou(np.zeros((1, 4, 4, 1)), foreground) == 1.0


def test_mask_ari_perfect_and_permuted():
    segmentation = np.zeros((1, 4, 4), int)
    segmentation[0, :, :2] = 5  # left half = segment 5, right half = 0
    masks = _left_right_masks(soft=True)
    assert mask_ari(masks, segmentation) == pytest.approx(1.0)
    assert mask_ari(masks[..., ::-1], segmentation) == pytest.approx(1.0)


def test_mask_ari_matches_a_hand_computation():
    # Segmentation: top half = 0, bottom half = 1; masks: left/right halves.
    # Every (segment, mask) cell has 4 pixels: sum C(4, 2) = 4 * 6 = 24,
    # rows: 2 * C(8, 2) = 56, columns: 56, C(16, 2) = 120.
    # ARI = (24 - 56*56/120) / (56 - 56*56/120) = -2.1333 / 29.8667.
    segmentation = np.zeros((1, 4, 4), int)
    segmentation[0, 2:] = 1
    expected = (24 - 56 * 56 / 120) / (56 - 56 * 56 / 120)
    value = mask_ari(_left_right_masks(), segmentation)
    assert value == pytest.approx(expected)
    assert value == pytest.approx(-1 / 14)

    # A second image where masks split the segment unevenly.
    masks = np.zeros((1, 4, 4, 3), "float32")
    masks[0, :, :1, 0] = 1  # column 0
    masks[0, :, 1:, 1] = 1  # columns 1-3
    masks[0, 0, 0] = [0.0, 0.0, 1.0]  # pixel (0, 0) -> mask 2
    seg = np.zeros((1, 4, 4), int)
    seg[0, :, 2:] = 1
    a = seg.reshape(-1)
    b = np.argmax(masks, -1).reshape(-1)
    table = np.zeros((2, 3))
    np.add.at(table, (a, b), 1)
    sum_comb = comb(table, 2).sum()
    sum_a = comb(table.sum(1), 2).sum()
    sum_b = comb(table.sum(0), 2).sum()
    expected = sum_comb - sum_a * sum_b / comb(16, 2)
    expected /= (sum_a + sum_b) / 2 - sum_a * sum_b / comb(16, 2)
    assert mask_ari(masks, seg) == pytest.approx(expected)
    # Averaged over images.
    padded = np.concatenate([_left_right_masks(), np.zeros((1, 4, 4, 1))], -1)
    both = mask_ari(
        np.concatenate([padded, masks]),
        np.concatenate([segmentation, seg]),
    )
    assert both == pytest.approx((-1 / 14 + expected) / 2)


def test_mask_ari_ignore_label():
    # Background (label 0) = right half; two objects on the left half,
    # split top/bottom. The masks split top/bottom over the whole image.
    segmentation = np.zeros((1, 4, 4), int)
    segmentation[0, :2, :2] = 1
    segmentation[0, 2:, :2] = 2
    top = np.zeros((1, 4, 4), "float32")
    top[0, :2] = 1.0
    masks = np.stack([top, 1.0 - top], -1)
    assert mask_ari(masks, segmentation) < 0.9
    assert mask_ari(masks, segmentation, ignore_label=0) == pytest.approx(1.0)
    assert np.isnan(mask_ari(masks, np.zeros((1, 4, 4), int), ignore_label=0))


def test_evaluate_masks_with_a_function_and_a_model():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(5, 4, 4, 3)).astype("float32")

    def masker(x, training=False):
        assert training is False
        return _left_right_masks(num_images=len(x), soft=True)

    foreground = np.zeros((5, 4, 4), bool)
    foreground[:, :, :2] = True
    parts = np.zeros((5, 4, 4), int)
    parts[:, :2, :2] = 1
    results = evaluate_masks(
        masker, images, foreground=foreground, parts=parts, batch_size=2
    )
    assert results["foreground_iou"] == 1.0
    assert results["foreground_ari"] == pytest.approx(1.0)
    assert results["parts_ari"] == pytest.approx(
        mask_ari(_left_right_masks(5), parts)
    )

    class Holder:
        pass

    holder = Holder()
    holder.masker = masker
    assert evaluate_masks(holder, images, foreground=foreground) == {
        "foreground_iou": 1.0,
        "foreground_ari": pytest.approx(1.0),
        "confidence": pytest.approx(float(np.mean(np.max(masker(images), axis=-1)))),
        # Left/right halves: both masks cover 1/2 of every image.
        "coverage_spread": pytest.approx(0.0, abs=1e-6),
    }


def test_evaluate_masks_with_a_keras_masker_is_batch_invariant():
    masker = keras.Sequential(
        [
            keras.Input((4, 4, 3)),
            keras.layers.Conv2D(3, 1),
            keras.layers.Softmax(axis=-1),
        ]
    )
    rng = np.random.default_rng(1)
    images = rng.normal(size=(6, 4, 4, 3)).astype("float32")
    foreground = rng.random((6, 4, 4)) > 0.5
    one = evaluate_masks(masker, images, foreground=foreground, batch_size=1)
    six = evaluate_masks(masker, images, foreground=foreground, batch_size=6)
    assert one == pytest.approx(six)
    masks = keras.ops.convert_to_numpy(masker(images))
    assert six["foreground_iou"] == pytest.approx(
        mask_foreground_iou(masks, foreground)
    )


def test_invalid_inputs_raise():
    masks = _left_right_masks()
    with pytest.raises(ValueError, match="Received"):
        mask_foreground_iou(masks, np.zeros((1, 3, 4), bool))
    with pytest.raises(ValueError, match="Received"):
        mask_ari(masks, np.zeros((2, 4, 4), int))
    with pytest.raises(ValueError, match="Received"):
        mask_foreground_iou(np.zeros((4, 4)), np.zeros((4, 4)))
    # Without ground truth only the confidence and the coverage spread are scored.
    assert set(evaluate_masks(lambda x: x + 1 / 3, np.zeros((1, 4, 4, 3)))) == {
        "confidence", "coverage_spread"}


def test_coverage_spread_by_hand():
    masks = np.zeros((2, 2, 2, 2), "float32")
    masks[0, ..., 0] = 1.0  # image 0: mask 0 covers everything -> coverages (1, 0), std 0.5
    masks[1, 0, :, 0] = 1.0  # image 1: half and half -> std 0
    masks[1, 1, :, 1] = 1.0
    assert mask_coverage_spread(masks) == pytest.approx(0.25)
