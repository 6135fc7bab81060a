"""Smoke test of benchmarks/throughput.py: `--quick` runs and writes sane results.

No timing assertions: only that every configuration ran (positive
throughput) and that the pass counts follow the formula, both the formula
itself and the counts observed in an eager step.
"""

import json

import pytest

from harness import run_benchmark_script

EXPECTED_CONFIGS = {
    "baseline", "adios_n2", "adios_n4", "adios_n6", "adios_s_n4",
}


def formula(num_masks, single_mask):
    """SimCLR pass counts with the unmasked reference computed once per phase.

    The masker runs once per step; its one backward pass is the pull-back.
    """
    if num_masks == 0:
        return {"encoder_phase_fwd": 2, "encoder_phase_bwd": 2, "masker_phase_fwd": 0,
                "masker_phase_bwd": 0, "masker_fwd": 0, "masker_bwd": 0}
    k = 1 if single_mask else num_masks
    return {"encoder_phase_fwd": 1 + k, "encoder_phase_bwd": 1 + k, "masker_phase_fwd": 1 + k,
            "masker_phase_bwd": k, "masker_fwd": 1, "masker_bwd": 1}


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("throughput") / "result"
    # The compiled (traced) step is what this checks; .ci/run runs this file once.
    run_benchmark_script("throughput.py", ["--quick", f"--output={out}"])
    with open(f"{out}.json") as f:
        results = json.load(f)
    with open(f"{out}.md") as f:
        table = f.read()
    return results, table


def test_every_config_has_positive_throughput(quick_results):
    results, _ = quick_results
    rows = {r["name"]: r for r in results["configs"]}
    assert set(rows) == EXPECTED_CONFIGS
    for row in rows.values():
        assert row["images_per_second"] > 0
        assert row["step_time_s"] > 0
        assert row["ratio_to_baseline"] > 0
        assert row["theoretical_ratio"] > 0
    assert rows["baseline"]["theoretical_ratio"] == pytest.approx(1.0)
    assert results["meta"]["backend"] == "tensorflow"
    assert results["meta"]["matmul_peak_gflops"] > 0
    assert results["pipeline"]["images_per_second"] > 0


def test_pass_counts_match_formula(quick_results):
    results, _ = quick_results
    for row in results["configs"]:
        want = formula(row["num_masks"], row["single_mask"])
        for source in ("expected_passes", "counted_passes"):
            got = row[source]
            assert got is not None, (row["name"], source)
            assert {k: got[k] for k in want} == want, (row["name"], source, got)
            assert got["encoder_fwd"] == want["encoder_phase_fwd"] + want["masker_phase_fwd"]
        assert row["passes_match"] is True


def test_step_traced_once_when_compiled(quick_results):
    results, _ = quick_results
    for row in results["configs"]:
        assert row["traces"] == 1, row["name"]


def test_markdown_lists_every_config(quick_results):
    _, table = quick_results
    for name in EXPECTED_CONFIGS:
        assert f"| {name} |" in table
    assert "- adios_s_n4: step-time ratio" in table


