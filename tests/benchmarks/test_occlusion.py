"""benchmarks/occlusion.py: the occlusions it builds and a `--quick` run.

The helpers are checked on hand-made arrays; the smoke run checks the
invariants every result must satisfy whatever the (untrained) networks do:
the learned masks partition the image, the ground-truth part occlusions
split the object, and no occlusion is no occlusion.
"""

import json
import os
import sys

import numpy as np
import pytest

from harness import run_benchmark_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import occlusion  # noqa: E402


def test_largest_part_picks_the_biggest_non_background_id():
    parts = np.array([
        [[0, 0, 1], [2, 2, 1], [2, 0, 0]],  # part 2 (3 px) > part 1 (2 px); background has 4
        [[1, 1, 0], [2, 2, 0], [0, 0, 0]],  # a tie: the lowest id
    ])
    big = occlusion.largest_part(parts)
    np.testing.assert_array_equal(big[0], parts[0] == 2)
    np.testing.assert_array_equal(big[1], parts[1] == 1)


def test_largest_part_hue_bins_colours_at_the_middle_of_each_bin():
    # Hues 30, 90, ..., 330 degrees: orange, lime, spring green, azure, violet, rose.
    colours = [(255, 128, 0), (128, 255, 0), (0, 255, 128), (0, 128, 255), (128, 0, 255), (255, 0, 128)]
    images = np.zeros((len(colours), 2, 2, 3), np.uint8)
    parts = np.zeros((len(colours), 2, 2), np.int32)
    for i, colour in enumerate(colours):
        images[i, 0, :] = colour  # the largest part: the top row
        parts[i, 0, :] = 1
        images[i, 1, 0] = (0, 0, 0)  # a one-pixel second part of another colour
        parts[i, 1, 0] = 2
    hue = occlusion.largest_part_hue(images, parts)
    np.testing.assert_array_equal(hue, [0, 1, 2, 3, 4, 5])


def test_hidden_shares_and_most_of_the_object():
    foreground = np.zeros((1, 2, 2), bool)
    foreground[0, 0] = True  # the top row is the object
    learned = np.zeros((1, 2, 2, 2), np.float32)
    learned[0, 0, 0] = (0.25, 0.75)
    learned[0, 0, 1] = (0.5, 0.5)
    learned[0, 1] = (1.0, 0.0)
    assert occlusion.hidden_shares(learned[..., 0], foreground) == pytest.approx((0.375, 0.6875))
    pick = occlusion.most_of_the_object(learned, foreground)
    np.testing.assert_allclose(pick, learned[..., 1])  # 0.625 of the object against 0.375


def test_hard_partitions_cover_every_pixel_once():
    parts = np.zeros((2, 6, 6), np.int32)
    parts[0, 1:3, 1:4] = 1  # 6 px
    parts[0, 3, 1:3] = 2  # 2 px
    parts[1, 2:5, 2:5] = 2  # 9 px: the largest part of image 1 is part 2
    parts[1, 0, 0] = 1
    foreground = parts > 0
    sets = occlusion.hard_partitions(foreground, parts, num_masks=4)
    assert sorted(sets) == ["object split in two", "object whole in one mask"]
    for masks in sets.values():
        assert masks.shape == (2, 6, 6, 4)
        np.testing.assert_array_equal(masks.sum(axis=-1), np.ones((2, 6, 6)))
    whole, split = sets["object whole in one mask"], sets["object split in two"]
    np.testing.assert_array_equal(whole[..., 0], foreground)
    np.testing.assert_array_equal(split[..., 0], [parts[0] == 1, parts[1] == 2])
    np.testing.assert_array_equal(split[..., 0] + split[..., 1], foreground)
    assert not (whole[..., 1:] * foreground[..., None]).any()  # the bands are background only


def test_quick_run_results_are_consistent(tmp_path):
    out = tmp_path / "occlusion"
    run_benchmark_script("occlusion.py", ["--quick", f"--output={out}"])
    with open(f"{out}.json") as f:
        result = json.load(f)
    rows = {r["variant"]: r for r in result["rows"]}
    labels = ["untrained 1", "untrained 2"]
    for r in rows.values():
        assert sorted(r["accuracy"]) == labels
        assert all(0.0 <= a <= 1.0 for a in r["accuracy"].values())
    assert rows["original"]["object_hidden"] == 0.0 and rows["original"]["image_hidden"] == 0.0
    # The ground-truth occlusions split the object between them.
    split = rows["largest part hidden"]["object_hidden"] + rows["all but the largest part hidden"]["object_hidden"]
    assert split == pytest.approx(1.0)
    # The masker's softmax masks partition every pixel.
    learned = [r for name, r in rows.items() if name.startswith("learned, mask ")]
    assert len(learned) == 3
    assert sum(r["image_hidden"] for r in learned) == pytest.approx(1.0, abs=1e-5)
    assert sum(r["object_hidden"] for r in learned) == pytest.approx(1.0, abs=1e-5)
    worst = rows["learned, most of the object"]["object_hidden"]
    assert worst >= max(r["object_hidden"] for r in learned) - 1e-6
    assert rows["random patches (75 %)"]["image_hidden"] == pytest.approx(0.75, abs=0.02)
    assert sorted(result["hue_accuracy"]) == labels
    assert all(0.0 <= a <= 1.0 for a in result["hue_accuracy"].values())
    table = open(f"{out}.md").read()
    assert "| learned, most of the object |" in table and "hue of the largest part" in table
    assert "| untrained 1 | untrained 2 |" in table
    scored = result["partitions"]["untrained"]
    assert sorted(scored) == ["learned masks", "object split in two", "object whole in one mask"]
    for r in scored.values():
        assert len(r["per_mask"]) == 3 and all(v > 0 for v in r["per_mask"])
        assert r["ssl"] == pytest.approx(sum(r["per_mask"]))
        assert r["penalty"] >= 3.0  # at least 1 per mask, 1 only at 50 % coverage
        assert r["masker_objective"] == pytest.approx(r["ssl"] - 1.0 * r["penalty"])
