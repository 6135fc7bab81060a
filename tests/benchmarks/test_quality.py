"""Smoke test of benchmarks/quality.py: `--quick` writes sane, resumable results.

The benchmark runs twice in the same folders: the first run trains every
(row, seed); the second, with the run folders removed as in a fresh checkout,
must reuse every per-seed JSON file untouched and rewrite the same table. No accuracy is asserted beyond being a probability:
one tiny epoch says nothing about which method wins.
"""

import json
import os
import shutil
import sys

import pytest

from harness import run_benchmark_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import quality  # noqa: E402

QUICK_ROWS = ("simclr_none", "simclr_adios")


def _run(output_dir, work_dir):
    # TensorFlow: .ci/run runs this file once, not per backend.
    run_benchmark_script("quality.py", ["--quick", f"--output_dir={output_dir}", f"--work_dir={work_dir}"])
    with open(os.path.join(output_dir, "quality.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("quality")
    output_dir, work_dir = base / "out", base / "work"
    first = _run(output_dir, work_dir)
    results_dir = work_dir / "results"
    stamps = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in results_dir.iterdir()}
    table_first = (output_dir / "quality.md").read_text()
    # As in a fresh checkout resuming from committed JSON files: the run folders
    # (with their mask grids) are gone, the results are reused all the same.
    shutil.rmtree(work_dir / "simclr_adios")
    second = _run(output_dir, work_dir)
    stamps_after = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in results_dir.iterdir()}
    return {
        "first": first, "second": second, "output_dir": output_dir,
        "stamps": stamps, "stamps_after": stamps_after,
        "table_first": table_first, "table_second": (output_dir / "quality.md").read_text(),
    }


def test_files_written(two_runs):
    out = two_runs["output_dir"]
    for name in ("quality.md", "quality.json", "quality_accuracy.png", "quality_curves.png",
                 "quality_masks_over_epochs.png"):
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
    with open(out / "quality_accuracy.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    expected = [f"{row}__seed_0.json" for row in QUICK_ROWS] + ["untrained_masker__seed_0.json"]
    assert sorted(two_runs["stamps"]) == sorted(expected)


def test_table_has_every_row_and_metric(two_runs):
    table = two_runs["table_first"]
    for label in ("| simclr | no masks |", "| simclr | ADIOS |", "| – | untrained encoder |",
                  "| – | untrained mask generator |"):
        assert label in table
    for title in ("linear probe", "kNN", "mask IoU", "ARI fg", "ARI parts", "only-fg", "mixed-rand"):
        assert title in table
    assert "commit" in table and "total time" in table


def test_numbers_are_probabilities(two_runs):
    summary = two_runs["first"]["summary"]
    assert set(summary) == set(QUICK_ROWS) | {"untrained encoder", "untrained mask generator"}
    for row in (*QUICK_ROWS, "untrained encoder"):
        metrics = summary[row]
        for key in ("linear_probe_accuracy", "knn_accuracy"):
            stat = metrics[key]
            assert stat["n"] >= 1, (row, key)
            assert 0.0 <= stat["mean"] <= 1.0, (row, key, stat)
            assert stat["std"] >= 0.0
    adios = summary["simclr_adios"]
    assert 0.0 <= adios["mask_foreground_iou"]["mean"] <= 1.0
    assert -1.0 <= adios["mask_parts_ari"]["mean"] <= 1.0
    assert 0.0 <= adios["background_mixed_rand_accuracy"]["mean"] <= 1.0
    # No masks, no mask scores; the untrained masker has only mask scores.
    assert summary["simclr_none"]["mask_foreground_iou"] is None
    reference = summary["untrained mask generator"]
    assert 0.0 <= reference["mask_foreground_iou"]["mean"] <= 1.0
    assert reference["linear_probe_accuracy"] is None
    for record in two_runs["first"]["runs"]:
        assert record["settings"]["epochs"] == 1 and record["seed"] == 0


def test_second_run_reuses_every_finished_run(two_runs):
    first, second = two_runs["first"]["meta"], two_runs["second"]["meta"]
    assert first["runs_computed"] == len(QUICK_ROWS) and first["runs_reused"] == 0
    assert second["runs_computed"] == 0 and second["runs_reused"] == len(QUICK_ROWS)
    assert two_runs["stamps_after"] == two_runs["stamps"]  # not rewritten
    assert two_runs["second"]["summary"] == two_runs["first"]["summary"]


def _record(row, seed, history, num_train_images=1000, batch_size=100):
    return {"row": row, "seed": seed, "history": history,
            "settings": {"num_train_images": num_train_images, "batch_size": batch_size}}


def test_curves_average_seeds_at_common_steps():
    records = [
        _record("simclr_adios", 0, [
            {"epoch": 1, "val_knn_accuracy": 0.2, "mask_confidence": 0.3},
            {"epoch": 2, "loss": 1.0},  # not monitored this epoch
            {"epoch": 3, "val_knn_accuracy": 0.4, "mask_confidence": 0.5},
        ]),
        _record("simclr_adios", 1, [
            {"epoch": 1, "val_knn_accuracy": 0.4, "mask_confidence": 0.7},
            {"epoch": 3, "val_knn_accuracy": 0.8},  # mask score missing at epoch 3
        ]),
        _record("simclr_none", 0, [{"epoch": 2, "val_knn_accuracy": 0.5}]),
        _record("simclr_random", 0, None),  # a record without history
    ]
    data = quality.curves(records, ["simclr_adios", "simclr_none", "simclr_random"])
    knn = data["simclr_adios"]["val_knn_accuracy"]
    assert knn["steps"] == [10, 30]  # epoch x (1000 // 100)
    assert knn["mean"] == pytest.approx([0.3, 0.6])
    assert knn["min"] == pytest.approx([0.2, 0.4]) and knn["max"] == pytest.approx([0.4, 0.8])
    confidence = data["simclr_adios"]["mask_confidence"]
    assert confidence["steps"] == [10]  # only the epoch both seeds scored
    assert confidence["mean"] == pytest.approx([0.5])
    assert data["simclr_none"] == {"val_knn_accuracy": {"steps": [20], "mean": [0.5], "min": [0.5], "max": [0.5]}}
    assert "simclr_random" not in data


def test_quick_run_curves_come_from_the_runs_history(two_runs):
    records = two_runs["first"]["runs"]
    data = quality.curves(records, list(QUICK_ROWS))
    adios = next(r for r in records if r["row"] == "simclr_adios")
    steps_per_epoch = adios["settings"]["num_train_images"] // adios["settings"]["batch_size"]
    assert data["simclr_adios"]["mask_confidence"]["steps"] == [steps_per_epoch]
    assert data["simclr_adios"]["mask_confidence"]["mean"] == [adios["history"][-1]["mask_confidence"]]
    assert 0.0 <= data["simclr_none"]["val_knn_accuracy"]["mean"][0] <= 1.0


def _scored(row, seed, probe, knn):
    return {"row": row, "seed": seed, "results": {"linear_probe_accuracy": probe, "knn_accuracy": knn}}


def test_paired_differences_by_hand():
    records = [
        _scored("simclr_none", 0, 0.20, 0.10), _scored("simclr_adios", 0, 0.25, 0.10),
        _scored("simclr_none", 1, 0.30, 0.20), _scored("simclr_adios", 1, 0.32, 0.25),
        _scored("simclr_none", 2, 0.40, 0.30), _scored("simclr_adios", 2, 0.41, None),
        _scored("simclr_none", 4, float("nan"), 0.1), _scored("simclr_adios", 4, 0.3, float("nan")),  # not paired
        _scored("simclr_adios", 3, 0.50, 0.50),  # no baseline for seed 3: not paired
        _scored("byol_adios", 0, 0.3, 0.3),  # no byol_none row
    ]
    rows = ["simclr_none", "simclr_adios", "byol_adios"]
    out = quality.paired_differences(records, rows)
    assert set(out) == {"simclr_adios"}
    probe = out["simclr_adios"]["linear_probe_accuracy"]
    diffs = [0.05, 0.02, 0.01]
    mean = sum(diffs) / 3
    se = (sum((d - mean) ** 2 for d in diffs) / 2) ** 0.5 / 3 ** 0.5
    assert probe["seeds"] == [0, 1, 2] and probe["n"] == 3
    assert probe["mean"] == pytest.approx(mean) and probe["se"] == pytest.approx(se)
    knn = out["simclr_adios"]["knn_accuracy"]
    assert knn["seeds"] == [0, 1] and knn["mean"] == pytest.approx(0.025)
    assert knn["se"] == pytest.approx(0.025)  # |0.0 - 0.05| / sqrt(2) / sqrt(2)
    assert "+0.027 ± 0.012 (3 seeds, resolved)" == quality._difference_cell(probe)
    assert "within 2 SE" in quality._difference_cell(knn)
    # The background-robustness columns are paired the same way; absent ones are None.
    assert out["simclr_adios"]["background_mixed_rand_accuracy"] is None


def test_paired_differences_cover_the_background_columns():
    records = [_scored("simclr_none", s, 0.2, 0.2) for s in (0, 1)] + [
        _scored("simclr_adios", s, 0.2, 0.2) for s in (0, 1)]
    for record, only_fg, mixed_rand in zip(records, (0.10, 0.20, 0.15, 0.30), (0.3, 0.3, 0.4, 0.2)):
        record["results"].update(background_only_fg_accuracy=only_fg, background_mixed_rand_accuracy=mixed_rand)
    out = quality.paired_differences(records, ["simclr_none", "simclr_adios"])["simclr_adios"]
    assert out["background_only_fg_accuracy"]["mean"] == pytest.approx(0.075)  # (0.05 + 0.10) / 2
    assert out["background_only_fg_accuracy"]["se"] == pytest.approx(0.025)
    assert out["background_mixed_rand_accuracy"]["mean"] == pytest.approx(0.0)  # (+0.1 - 0.1) / 2


def test_paired_comparisons_by_hand(two_runs):
    records = []
    for seed, (adios, random_, adios_s, t_adios, t_s) in enumerate(
            [(0.30, 0.25, 0.29, 100.0, 40.0), (0.32, 0.30, 0.33, 120.0, 60.0)]):
        for row, probe, seconds in (("simclr_adios", adios, t_adios), ("simclr_random", random_, 50.0),
                                    ("simclr_adios_s", adios_s, t_s)):
            record = _scored(row, seed, probe, 0.2)
            record["cpu_seconds"] = seconds
            records.append(record)
    records.append(_scored("byol_adios", 0, 0.3, 0.3))  # no byol_random or byol_adios_s row
    rows = ["simclr_adios", "simclr_adios_s", "simclr_random", "byol_adios"]
    out = quality.paired_comparisons(records, rows)
    assert set(out) == {"simclr_adios vs simclr_random", "simclr_adios_s vs simclr_adios"}
    versus_random = out["simclr_adios vs simclr_random"]
    assert versus_random["linear_probe_accuracy"]["mean"] == pytest.approx(0.035)  # (0.05 + 0.02) / 2
    assert versus_random["linear_probe_accuracy"]["se"] == pytest.approx(0.015)  # |0.05 - 0.02| / 2
    assert versus_random["knn_accuracy"]["mean"] == pytest.approx(0.0)
    assert versus_random["cpu_time_ratio"]["mean"] == pytest.approx(2.2)  # (100/50 + 120/50) / 2
    ratio = out["simclr_adios_s vs simclr_adios"]["cpu_time_ratio"]
    assert ratio["mean"] == pytest.approx(0.45) and ratio["seeds"] == [0, 1]  # (0.4 + 0.5) / 2
    assert out["simclr_adios_s vs simclr_adios"]["linear_probe_accuracy"]["mean"] == pytest.approx(0.0)
    # The table shows them under the differences to the no-mask row.
    meta = dict(two_runs["first"]["meta"], comparisons=out)
    table = quality.markdown(two_runs["first"]["summary"], list(QUICK_ROWS), meta)
    assert "| objective | masking | against | linear probe | kNN | only-fg | mixed-rand | CPU time |" in table
    assert "| simclr | ADIOS | random patches | +0.035 ± 0.015 (2 seeds, resolved) | " in table
    assert "| simclr | ADIOS-s | ADIOS | " in table and "| – | 0.45x |" in table


def test_table_shows_differences_and_names_a_mask_grid_kept_from_before(two_runs):
    first, second = two_runs["table_first"], two_runs["table_second"]
    differences = first.split("Difference to the same objective")[1]
    assert "| objective | masking | linear probe | kNN | only-fg | mixed-rand |" in differences
    assert "| simclr | ADIOS | " in differences
    assert "(1 seed)" in first
    assert "`quality_masks_over_epochs.png` (masks of simclr_adios, seed 0" in first
    # Second run: the run folder was removed, so the grid was not redrawn; the
    # picture the first run drew is still there, and the table names it as kept.
    assert two_runs["second"]["meta"]["mask_grid"] is None
    assert two_runs["first"]["meta"]["mask_grid"] == "simclr_adios"
    kept = two_runs["second"]["meta"]["mask_grid_kept"]
    assert kept == {"row": "simclr_adios", "seed": 0, "drawn": two_runs["first"]["meta"]["date"]}
    assert "(masks of simclr_adios, seed 0, over epochs; drawn on " in second
    assert "and kept: no run folder of simclr_adios, seed 0, here)" in second


def test_the_table_says_when_there_is_no_mask_grid_at_all(tmp_path):
    meta = {"suffix": "_x", "mask_row": "simclr_adios", "seeds": [2], "mask_grid": None}
    assert quality._mask_grid_sentence(meta) == (
        "no mask grid drawn by this invocation (no run folder of simclr_adios, seed 2, here).")
    # Nothing drawn before in this folder (or its picture is gone): nothing to keep.
    assert quality.kept_mask_grid(str(tmp_path), "_x") is None
    (tmp_path / "quality_x.json").write_text(json.dumps(
        {"meta": {"mask_grid": "simclr_adios", "seeds": [2], "date": "d"}}))
    assert quality.kept_mask_grid(str(tmp_path), "_x") is None
    (tmp_path / "quality_masks_over_epochs_x.png").write_bytes(b"png")
    assert quality.kept_mask_grid(str(tmp_path), "_x") == {"row": "simclr_adios", "seed": 2, "drawn": "d"}
    # A table written before tables recorded the grid (no mask_grid key): its
    # picture is of that run's mask_row; one that recorded "none drawn" keeps nothing.
    (tmp_path / "quality_x.json").write_text(json.dumps(
        {"meta": {"mask_row": "simclr_adios_s", "seeds": [0], "date": "old"}}))
    assert quality.kept_mask_grid(str(tmp_path), "_x") == {"row": "simclr_adios_s", "seed": 0, "drawn": "old"}
    (tmp_path / "quality_x.json").write_text(json.dumps(
        {"meta": {"mask_row": "simclr_adios", "mask_grid": None, "seeds": [0], "date": "d"}}))
    assert quality.kept_mask_grid(str(tmp_path), "_x") is None


def test_one_untrained_masker_reference_for_every_objective(tmp_path):
    base = {"dataset": "shapes32", "num_train_images": 128, "num_eval_images": 64, "epochs": 1}
    references = []
    for objectives in (["simclr"], ["byol", "simsiam"]):
        runs = quality.plan(objectives, ["none", "adios"], [3], base, str(tmp_path))
        references.append(quality.untrained_masker_run(runs, 3, str(tmp_path)))
    assert references[0] == references[1]
    assert references[0]["path"].endswith("untrained_masker__seed_3.json")
    # Another seed, another reference.
    runs = quality.plan(["simclr"], ["adios_s"], [4], base, str(tmp_path))
    assert quality.untrained_masker_run(runs, 4, str(tmp_path))["settings"]["seed"] == 4


def test_an_image_folder_runs_through_the_matrix_machinery(tmp_path):
    """A class-sorted folder of natural-image layout (no ground-truth masks): the
    rows train, and the masked rows and the untrained reference report the masks'
    statistics (confidence, coverage spread) without any ground-truth score."""
    from harness import write_image_folder

    for split, count in (("train", 16), ("test", 8)):
        write_image_folder(tmp_path / "data" / split, classes=("a", "b"), per_class=count,
                           sizes=((16, 16),))
    base = {"dataset": f"folder:{tmp_path / 'data'}", "augmentation": "cifar10_solo_learn",
            "epochs": 1, "batch_size": 8, "probe_epochs": 2, "num_vis_images": 2,
            "encoder_widths": "8", "mask_filters": 8, "num_masks": 2}
    result = quality.run_benchmark(["simclr"], ["none", "adios"], [0], base, str(tmp_path / "work"),
                                   str(tmp_path / "out"), tag="folder")
    adios = next(r for r in result["runs"] if r["row"] == "simclr_adios")["results"]
    assert 1 / 2 <= adios["mask_confidence"] <= 1.0
    assert "mask_foreground_iou" not in adios
    assert adios["num_train_images"] == 32 and adios["steps_per_epoch"] == 4
    reference = result["summary"][quality.UNTRAINED_MASKER]
    assert reference["mask_confidence"]["n"] == 1 and reference["mask_foreground_iou"] is None
    history = next(r for r in result["runs"] if r["row"] == "simclr_adios")["history"]
    assert history[0]["mask_coverage_spread"] >= 0.0  # monitored without ground truth
    # Occlusion robustness: every row meets the same seed's ADIOS masks; no
    # 16-px cutout on 16-px images; the clean figure is the run's own probe.
    table = (tmp_path / "out" / "quality_folder.md").read_text()
    for run in result["runs"]:
        res = run["results"]
        assert run["occlusion_masker"] == "simclr_adios"
        assert "occlusion_cutout_16_accuracy" not in res
        for key in ("occlusion_clean_accuracy", "occlusion_cutout_8_accuracy", "occlusion_learned_mask_accuracy"):
            assert 0.0 <= res[key] <= 1.0, (run["row"], key)
        assert res["occlusion_clean_accuracy"] == pytest.approx(res["linear_probe_accuracy"], abs=1 / 16)
        with open(tmp_path / "work" / "results" / f"{run['row']}__seed_0.json") as f:
            assert json.load(f)["results"] == res  # written back to the run's JSON
    header = next(line for line in table.splitlines() if line.startswith("| objective | masking |"))
    assert header.endswith("| cutout 8 | learned mask |")
    assert "cutout 16" not in header and "mask IoU" not in header  # columns without figures
    assert "top-1 accuracy on the test split;" in " ".join(table.split())


def test_tables_name_a_held_out_part_of_a_folder_as_the_evaluation_images(tmp_path):
    from harness import write_image_folder

    write_image_folder(tmp_path / "flat", classes=("a", "b"), per_class=2)
    words = quality.evaluation_images({"dataset": f"folder:{tmp_path / 'flat'}", "holdout_fraction": 0.2})
    assert words.startswith(f"the 20% of `{tmp_path / 'flat'}` held out from pretraining")
    assert "no test image is used" in words
    write_image_folder(tmp_path / "split" / "train", classes=("a",), per_class=1)
    assert quality.evaluation_images({"dataset": f"folder:{tmp_path / 'split'}"}) == "the test split"
    assert quality.evaluation_images({"dataset": "shapes32", "eval_split": "validation"}) == "the validation split"


def test_cpu_ledger_sums_every_process_of_a_resumed_run(tmp_path):
    run_dir = str(tmp_path / "simclr_adios" / "seed_0")
    first = quality.CpuLedger(run_dir, interval=0.01)
    sum(i * i for i in range(5_000_000))  # some CPU time in this process (about 0.5 s)
    first.close()
    assert first.attempts[0] > 0
    assert not os.path.exists(run_dir)  # the ledger lives beside the run folder, never in it
    second = quality.CpuLedger(run_dir)  # the next process, resuming the run
    second.close()
    assert len(second.attempts) == 2 and second.attempts[0] == first.attempts[0]
    assert second.total() == pytest.approx(sum(second.attempts), abs=0.11)
    with open(run_dir + ".cpu_seconds.json") as f:
        assert json.load(f) == {"attempts": second.attempts, "complete": True}


def test_cpu_ledger_of_a_run_started_without_one_is_unknown(tmp_path):
    run_dir = tmp_path / "seed_0"
    (run_dir / "backup").mkdir(parents=True)  # resumable state of an earlier process
    ledger = quality.CpuLedger(str(run_dir))
    ledger.close()
    assert ledger.total() is None


def test_cpu_time_ratio_skips_seeds_with_unknown_cpu_time(two_runs):
    records = []
    for seed, (t_adios, t_s) in enumerate([(100.0, 40.0), (None, 60.0)]):
        for row, seconds in (("simclr_adios", t_adios), ("simclr_adios_s", t_s)):
            record = _scored(row, seed, 0.3, 0.2)
            record["cpu_seconds"] = seconds
            records.append(record)
    out = quality.paired_comparisons(records, ["simclr_adios", "simclr_adios_s"])
    ratio = out["simclr_adios_s vs simclr_adios"]["cpu_time_ratio"]
    assert ratio["seeds"] == [0] and ratio["mean"] == pytest.approx(0.4)
