"""Smoke test of benchmarks/xla_cpu.py: `--quick` times every variant against PyTorch, and reports failures.

No timing assertions: only that every worker ran both kinds of step, that the
ratios are the per-round ratios' medians, and that a worker which cannot
start is reported with its error instead of being dropped.
"""

import json

import pytest

from harness import run_benchmark_script


def quick_run(tmp_path, variants, env_flags=None, monkeypatch=None):
    if env_flags is not None:
        monkeypatch.setenv("XLA_FLAGS", env_flags)
    out = tmp_path / "xla"
    run_benchmark_script("xla_cpu.py", ["--quick", f"--variants={variants}", f"--output={out}"])
    return json.loads(out.with_suffix(".json").read_text()), out.with_suffix(".md").read_text()


def test_quick_run_times_every_variant_against_torch(tmp_path):
    results, table = quick_run(tmp_path, "default,channels_first")
    rows = {r["variant"]: r for r in results["variants"]}
    assert list(rows) == ["torch", "default", "channels_first"]
    for name, row in rows.items():
        assert "error" not in row, (name, row)
        for kind in ("supervised", "conv"):
            assert row[f"{kind}_seconds"] > 0, (name, kind)
    # PyTorch against itself, round by round: exactly 1.
    assert rows["torch"]["supervised_over_torch"] == pytest.approx(1.0)
    assert rows["torch"]["conv_over_torch"] == pytest.approx(1.0)
    assert rows["channels_first"]["feature_layout"] == "channels_first"
    assert f"**{rows['default']['supervised_over_torch']:.2f}x**" in table
    assert results["meta"]["rounds"] == 2


def test_a_worker_that_cannot_start_is_reported(tmp_path, monkeypatch):
    # XLA refuses unknown flags when its CPU backend starts: every JAX worker fails,
    # the PyTorch baseline (which never reads XLA_FLAGS) still runs.
    results, table = quick_run(tmp_path, "default", env_flags="--xla_keras_adios_no_such_flag=1",
                               monkeypatch=monkeypatch)
    rows = {r["variant"]: r for r in results["variants"]}
    assert "error" not in rows["torch"]
    assert rows["default"]["error"]
    assert "| default | – | auto | failed:" in table
