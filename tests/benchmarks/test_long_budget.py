"""Smoke test of benchmarks/long_budget.py: prepare here, run as on the GPU machine, report.

One tiny ADIOS run goes the whole way: `prepare` (TensorFlow) stores its
settings, model and data; `device` trains it with JAX in a subprocess in which
TensorFlow cannot be imported (as on the GPU machine); `report` and `tables`
file the record where quality.py reads it. No accuracy is asserted beyond
being a probability: one tiny epoch says nothing about which method wins.
"""

import json
import os
import sys
import tarfile

import numpy as np
import pytest

from harness import run_benchmark_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

pytest.importorskip("jax")

import quality  # noqa: E402

from keras_adios import experiment  # noqa: E402

TINY = "num_train_images=128,num_eval_images=64,batch_size=64,probe_epochs=1"
RUN = "shapes32_shortcut:simclr_adios"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    base = tmp_path_factory.mktemp("long_budget")
    bundle, work, device = base / "bundle", base / "work", base / "device"
    run_benchmark_script("long_budget.py", [
        "--mode=prepare", f"--bundle_dir={bundle}", f"--work_root={work}", f"--runs={RUN}",
        "--epochs=2", "--monitor_every=1", f"--set={TINY}"])
    run_benchmark_script("long_budget.py", [
        "--mode=device", f"--bundle_dir={bundle}", f"--output_dir={device}", "--limit_seconds=800"],
        backend="jax")
    return {"bundle": bundle, "work": work, "device": device, "base": base}


def test_prepare_stores_the_planned_settings_and_the_loaded_data(finished):
    with open(finished["bundle"] / "runs.json") as f:
        (entry,) = json.load(f)["runs"]
    base = dict(quality.parse_set(TINY.split(",")), dataset="shapes32_shortcut", epochs=2, monitor_every=1)
    planned = quality.plan(["simclr"], ["adios"], [0], base, str(finished["work"] / "shapes32_shortcut"))
    assert entry["settings"] == planned[0]["settings"]
    train, held_out = experiment.load_splits(entry["settings"])
    with np.load(finished["bundle"] / entry["data"]) as data:
        np.testing.assert_array_equal(data["train_images"], train.data[0])
        np.testing.assert_array_equal(data["eval_labels"], held_out.data[1])
    assert entry["steps_per_epoch"] == 2


def test_device_run_writes_a_record_quality_reads(finished):
    name = "shapes32_shortcut__simclr_adios__seed_0"
    with open(finished["device"] / f"{name}.json") as f:
        record = json.load(f)
    assert record["results"]["backend"] == "jax"
    for key in ("linear_probe_accuracy", "knn_accuracy", "mask_foreground_iou", "background_mixed_rand_accuracy"):
        assert 0.0 <= record["results"][key] <= 1.0, key
    assert [r["epoch"] for r in record["history"]] == [1, 2]
    assert all("epoch_seconds" in r and "val_knn_accuracy" in r for r in record["history"])
    assert sorted(os.listdir(finished["device"] / name / "masks")) == ["masks_epoch_001.png", "masks_epoch_002.png"]
    with open(finished["device"] / "device_report.json") as f:
        report = json.load(f)
    assert report[name]["finished"] and report[name]["epochs_done"] == 2


def test_report_files_the_record(finished, tmp_path):
    results, path = tmp_path / "results", tmp_path / "long_budget"
    run_benchmark_script("long_budget.py", [
        "--mode=report", f"--device_dirs={finished['device']}", f"--bundle_dir={finished['bundle']}",
        f"--results_root={results}", f"--report_path={path}"])
    text = (tmp_path / "long_budget.md").read_text()
    assert "| shapes32_shortcut | simclr_adios: kNN (monitor) | 2 (finished) |" in text
    assert (tmp_path / "long_budget_masks_shapes32_shortcut_simclr_adios.png").exists()
    filed = results / "shapes32_shortcut" / "simclr_adios__seed_0.json"
    # Filed where quality.py looks, with the settings it plans: it is reused, not retrained.
    with open(finished["bundle"] / "runs.json") as f:
        (entry,) = json.load(f)["runs"]
    run = {"path": str(filed), "settings": entry["settings"]}
    assert quality.load_finished(run)["results"]["backend"] == "jax"


def test_tables_from_the_device_tarball(finished, tmp_path):
    tarball = tmp_path / "long_budget.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(finished["device"], arcname=".")
    run_benchmark_script("long_budget.py", [
        "--mode=tables", f"--tarball={tarball}", f"--bundle_dir={finished['bundle']}",
        f"--work_root={finished['work']}", f"--results_root={tmp_path / 'results'}",
        f"--tables_dir={tmp_path}"])
    with open(tmp_path / "quality_long_budget_shapes32_shortcut.json") as f:
        table = json.load(f)
    # The device's record is reused (nothing trained here) and the table says where it ran.
    assert table["meta"]["runs_computed"] == 0 and table["meta"]["runs_reused"] == 1
    assert "with the JAX backend by `benchmarks/long_budget.py`" in (
        tmp_path / "quality_long_budget_shapes32_shortcut.md").read_text()
