"""Smoke test of benchmarks/mixed_precision.py: `--quick` times every policy and they train alike.

No timing assertions: only that every policy ran, that float16 ran with its
loss scale and no non-finite loss, and that after the same steps on the same
batch the 16-bit runs' losses are close to float32's.
"""

import json

import pytest

from harness import run_benchmark_script


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_quick_run_times_every_policy_and_they_train_alike(tmp_path, backend):
    out = tmp_path / "result"
    run_benchmark_script("mixed_precision.py", ["--quick", f"--output={out}"], backend=backend)
    with open(f"{out}.json") as f:
        results = json.load(f)
    rows = {r["policy"]: r for r in results["rows"]}
    assert set(rows) == {"float32", "mixed_bfloat16", "mixed_float16"}
    assert results["meta"]["backend"] == backend
    assert rows["float32"]["ratio_to_float32"] == pytest.approx(1.0)
    for row in rows.values():
        assert row["median_step_seconds"] > 0 and row["ratio_to_float32"] > 0
        assert row["nonfinite"] == 0.0
        assert row["loss"] == pytest.approx(rows["float32"]["loss"], rel=0.02)
    assert rows["mixed_float16"]["loss_scale"] > 0
    assert rows["float32"]["loss_scale"] is None and rows["mixed_bfloat16"]["loss_scale"] is None
    assert "| mixed_float16 |" in (tmp_path / "result.md").read_text()
