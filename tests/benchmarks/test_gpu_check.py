"""benchmarks/gpu_check.sh and the paper-scale options of benchmarks/vs_reference.py, on the CPU.

The GPU check itself only runs on a lent GPU; here its procedure runs at smoke
size (`GPU_CHECK_QUICK=1`): the same script, workers and result files. No
timing is asserted, only that every measurement named ran with the settings
asked for, that the deadline leaves measurements out by name, and that the
FLOP counts behind the "fraction of peak" column are right.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import vs_reference  # noqa: E402

SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")


def run_check(out, runs, seconds, backends="tensorflow"):
    env = dict(os.environ, OUT=str(out), GPU_CHECK_QUICK="1", GPU_CHECK_BACKENDS=backends,
               GPU_CHECK_RUNS=runs, PYTHON=sys.executable, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(["bash", SCRIPT, "device", str(seconds)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def test_pass_counts_of_byol():
    # Reference: 4N forwards (online and target, x1 and x2_n, every n), 2N full backwards,
    # then 4N forwards and N input-only backwards. keras_adios: x1 once per phase.
    assert vs_reference.pass_counts(6, False, "byol") == (78, 48)
    assert vs_reference.pass_counts(4, False, "byol") == (52, 34)
    assert vs_reference.pass_counts(4, False, "simclr") == vs_reference.pass_counts(4, False)


def test_forward_flops_match_resnet18s_known_count():
    # ResNet-18 at 224 px: 1.814 G multiply-adds with its 1000-class layer (torchvision's
    # figure); here without that layer and with the projector instead.
    flops = vs_reference.forward_flops(64, 4, 32, "simclr", 224, "imagenet")
    projector = 2 * (512 * 2048 + 2048 * 128)
    assert flops["encoder"] - projector == pytest.approx(2 * (1.814e9 - 512 * 1000), rel=1e-3)
    # The UNet: its first block alone is a 3x3 conv 3 -> 32 channels over every pixel.
    assert flops["masker"] > 2 * 27 * 32 * 224 * 224


def test_step_flops_count_every_pass():
    per_image = {"encoder": 10.0, "masker": 1.0}
    # SimCLR N = 4: 24 encoder forward-equivalents, the UNet's forward and backward (3).
    assert vs_reference.step_flops(per_image, 2, 4, "simclr") == 2 * (10.0 * 24 + 3)
    # The reference: 36 forward-equivalents, its UNet's no-gradient forward, forward and backward (4).
    assert vs_reference.step_flops(per_image, 2, 4, "simclr", reference=True) == 2 * (10.0 * 36 + 4)


def test_bf16_peak_of_the_lent_cards():
    assert vs_reference.bf16_peak_tflops("NVIDIA H200") == pytest.approx(989.4)
    assert vs_reference.bf16_peak_tflops("NVIDIA H100 80GB HBM3") == pytest.approx(989.4)
    assert vs_reference.bf16_peak_tflops("cpu") is None


def test_device_step_runs_the_paper_settings_and_collects_them(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = run_check(out, "byol:3:mixed_bfloat16", 850)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "gpu_check_byol_mixed_bfloat16.json").read_text())
    (row,) = result["configs"]
    assert (row["objective"], row["num_masks"], row["precision"], row["stem"]) == (
        "byol", 3, "mixed_bfloat16", "imagenet")
    assert row["passes"] == {"reference": 39, "keras_adios": 27}
    assert row["step_seconds"]["torch_adios"] > 0 and row["step_seconds"]["keras_adios"] > 0
    # The work rate is each side's FLOPs over its own step time.
    assert row["flops"]["keras_adios_tflops"] == pytest.approx(
        row["flops"]["keras_adios_step"] / row["step_seconds"]["keras_adios"] / 1e12)
    assert "Keras backends on this machine's GPU: tensorflow" in (out / "device.txt").read_text()
    table = (out / "gpu_check_byol_mixed_bfloat16.md").read_text()
    assert "byol N = 3, mixed_bfloat16" in table and "TFLOP/s" in table
    dest = tmp_path / "results"
    collect = subprocess.run(["bash", SCRIPT, "collect", str(out), str(dest)], cwd=ROOT, capture_output=True,
                             text=True)
    assert collect.returncode == 0, collect.stderr
    assert json.loads((dest / "gpu_check_byol_mixed_bfloat16.json").read_text()) == result
