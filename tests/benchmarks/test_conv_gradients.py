"""Smoke test of benchmarks/conv_gradients.py: `--quick` times every part and checks the matmul gradient.

No timing assertions: only that every part ran on both sides and that the
matrix-product kernel gradient equals XLA's up to float rounding.
"""

import json

from harness import run_benchmark_script


def test_quick_run_times_every_part(tmp_path):
    out = tmp_path / "conv"
    run_benchmark_script("conv_gradients.py", ["--quick", f"--output={out}"])
    result = json.loads(out.with_suffix(".json").read_text())
    parts = ("forward", "input_gradient", "kernel_gradient", "kernel_gradient_matmul")
    assert all(result["jax_seconds"][p] > 0 for p in parts)
    assert all(result["torch_seconds"][p] > 0 for p in parts[:3])
    assert result["matmul_relative_difference"] < 1e-5
    table = out.with_suffix(".md").read_text()
    assert "| kernel gradient |" in table and "faster than XLA's own" in table
