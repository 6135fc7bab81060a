"""Smoke test of benchmarks/vs_reference.py: `--quick` runs both workers and reports sane ratios.

No timing assertions: only that both frameworks ran every kind of step and that
the ceiling is the supervised ratio times the pass-count ratio.
"""

import json
import os
import sys

import pytest

from harness import run_benchmark_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import vs_reference  # noqa: E402


def test_pass_counts_follow_the_procedures():
    # Reference: 2N (+2) fwd and 2N full bwd, then 2N fwd and N input-only bwd.
    assert vs_reference.pass_counts(4, False) == (36, 24)
    assert vs_reference.pass_counts(4, True) == (38, 24)
    assert vs_reference.pass_counts(6, False) == (54, 34)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `--quick --joint` run (three workers: reference, lean, joint): its JSON row and table."""
    out = tmp_path_factory.mktemp("vs") / "vs"
    run_benchmark_script("vs_reference.py", ["--quick", "--joint", f"--output={out}"])
    results = json.loads(out.with_suffix(".json").read_text())
    return results, out.with_suffix(".md").read_text()


def test_quick_run_writes_consistent_results(quick_run):
    results, table = quick_run
    (row,) = results["configs"]
    for key in ("torch_adios", "keras_adios", "torch_supervised", "keras_supervised"):
        assert row["step_seconds"][key] > 0, key
    assert len(row["adios_ratios_per_round"]) == results["meta"]["rounds"] == 2
    assert row["ceiling"] == pytest.approx(row["supervised_ratio"] * 36 / 24)
    assert row["measured_over_ceiling"] == pytest.approx(row["measured_ratio"] / row["ceiling"])
    assert "| quick (ResNet-18 width 8, batch 8) |" in table


def test_quick_run_reports_peak_memory_of_both_sides(quick_run):
    results, table = quick_run
    (row,) = results["configs"]
    memory = row["peak_memory_mb"]
    for fw in ("torch", "keras", "keras_joint"):
        for kind in ("adios", "supervised"):
            # A worker holding torch or TensorFlow and a model is far above 50 MB resident.
            assert memory[f"{fw}_{kind}_rss"] > 50, (fw, kind)
    assert row["adios_rss_memory_ratio"] == pytest.approx(memory["keras_adios_rss"] / memory["torch_adios_rss"])
    ratio = f"**{row['adios_rss_memory_ratio']:.2f}x**"
    assert ratio in table


def test_quick_run_compares_the_lean_and_joint_encoder_phases(quick_run):
    results, table = quick_run
    (row,) = results["configs"]
    times = row["step_seconds"]
    assert times["keras_joint_adios"] > 0
    assert len(row["lean_over_joint_time_per_round"]) == 2
    assert row["lean_over_joint_rss_memory"] == pytest.approx(
        row["peak_memory_mb"]["keras_adios_rss"] / row["peak_memory_mb"]["keras_joint_adios_rss"]
    )
    assert f"**{row['lean_over_joint_rss_memory']:.2f}x**" in table
