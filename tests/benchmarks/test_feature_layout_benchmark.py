"""Smoke test of benchmarks/feature_layout.py: `--quick` times both layouts on the same weights.

No timing assertions: only that both layouts ran both steps, gave the same
first ADIOS loss (same weights, same batch) and that both memory workers
reported a peak (PyTorch; on TensorFlow's CPU both layouts run under XLA and the
smoke run leaves the memory workers out).
"""

import json

import pytest

from harness import run_benchmark_script


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
def test_quick_run_times_both_layouts_on_the_same_network(tmp_path, backend):
    out = tmp_path / "layout"
    run_benchmark_script("feature_layout.py", ["--quick", f"--output={out}"], backend=backend)
    with open(f"{out}.json") as f:
        results = json.load(f)
    assert results["meta"]["backend"] == backend
    assert [row["step"] for row in results["rows"]] == ["adios", "supervised"]
    for row in results["rows"]:
        assert row["channels_last_s"] > 0 and row["channels_first_s"] > 0 and row["ratio"] > 0
        assert len(row["per_round_ratios"]) == 2
    assert results["losses"]["channels_first"] == pytest.approx(results["losses"]["channels_last"], rel=1e-4)
    assert "| adios |" in (tmp_path / "layout.md").read_text()
    if backend == "tensorflow":  # both layouts compiled by XLA on the CPU: no memory workers
        assert results["meta"]["xla"] is True and results["memory"] is None
        return
    for layout in ("channels_last", "channels_first"):
        assert results["memory"][layout]["layout"] == layout
        assert results["memory"][layout]["peak_rss_mb"] >= results["memory"][layout]["before_mb"] > 0
