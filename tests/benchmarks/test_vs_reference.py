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


def test_quick_run_writes_consistent_results(tmp_path):
    out = tmp_path / "vs"
    run_benchmark_script("vs_reference.py", ["--quick", f"--output={out}"])
    results = json.loads((tmp_path / "vs.json").read_text())
    (row,) = results["configs"]
    for key in ("torch_adios", "keras_adios", "torch_supervised", "keras_supervised"):
        assert row["step_seconds"][key] > 0, key
    assert len(row["adios_ratios_per_round"]) == results["meta"]["rounds"] == 2
    assert row["ceiling"] == pytest.approx(row["supervised_ratio"] * 36 / 24)
    assert row["measured_over_ceiling"] == pytest.approx(row["measured_ratio"] / row["ceiling"])
    assert "| quick (ResNet-18 width 8, batch 8) |" in (tmp_path / "vs.md").read_text()


def test_quick_run_reports_peak_memory_of_both_sides(tmp_path):
    out = tmp_path / "vs"
    run_benchmark_script("vs_reference.py", ["--quick", f"--output={out}"])
    (row,) = json.loads((tmp_path / "vs.json").read_text())["configs"]
    memory = row["peak_memory_mb"]
    for fw in ("torch", "keras"):
        for kind in ("adios", "supervised"):
            # A worker holding torch or TensorFlow and a model is far above 50 MB resident.
            assert memory[f"{fw}_{kind}_rss"] > 50, (fw, kind)
    assert row["adios_rss_memory_ratio"] == pytest.approx(memory["keras_adios_rss"] / memory["torch_adios_rss"])
    table = (tmp_path / "vs.md").read_text()
    ratio = f"**{row['adios_rss_memory_ratio']:.2f}x**"
    assert ratio in table
