"""benchmarks/parking.sh: unfinished quality.py runs are parked into the results and restored.

run_matrix.sh (MATRIX_PARK=1) and run_mask_lr_sweep.sh (SWEEP_PARK=1) source it, so
that a run longer than a work session resumes in the next checkout.
"""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _call(tmp_path, function):
    script = f'source "{ROOT}/benchmarks/parking.sh" && {function} work results'
    return subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True).stdout


def _run_folder(path, unfinished):
    path.mkdir(parents=True)
    (path / "flags.json").write_text('{"seed": 0}')
    (path / "metrics.json").write_text("[1]")
    (path / "tensorboard").mkdir()
    if unfinished:
        (path / "backup").mkdir()
        (path / "backup" / "state").write_text("epoch 3")
    path.with_name(path.name + ".cpu_seconds.json").write_text('{"attempts": [12.5], "complete": true}')


def test_unfinished_runs_are_parked_and_restored_unless_finished_since(tmp_path):
    _run_folder(tmp_path / "work" / "simclr_adios" / "seed_1", unfinished=True)
    _run_folder(tmp_path / "work" / "simclr_none" / "seed_1", unfinished=False)
    (tmp_path / "results").mkdir()

    out = _call(tmp_path, "park_runs")
    parked = tmp_path / "results" / "parked"
    assert "parked work/simclr_adios/seed_1" in out
    assert sorted(p.name for p in (parked / "simclr_adios" / "seed_1").iterdir()) == [
        "backup", "flags.json", "metrics.json"]  # not the TensorBoard logs
    assert (parked / "simclr_adios" / "seed_1" / "backup" / "state").read_text() == "epoch 3"
    assert "12.5" in (parked / "simclr_adios" / "seed_1.cpu_seconds.json").read_text()
    assert not (parked / "simclr_none").exists()  # finished: nothing to resume

    # A fresh checkout: the work folder is gone; the parked run comes back with its ledger.
    subprocess.run(["rm", "-r", str(tmp_path / "work")], check=True)
    out = _call(tmp_path, "restore_parked")
    assert "restored the parked run simclr_adios/seed_1" in out
    assert (tmp_path / "work" / "simclr_adios" / "seed_1" / "backup" / "state").read_text() == "epoch 3"
    assert "12.5" in (tmp_path / "work" / "simclr_adios" / "seed_1.cpu_seconds.json").read_text()

    # Once the run's result is committed, its parked state is stale and is not restored.
    subprocess.run(["rm", "-r", str(tmp_path / "work")], check=True)
    (tmp_path / "results" / "simclr_adios__seed_1.json").write_text("{}")
    assert _call(tmp_path, "restore_parked") == ""
    assert not (tmp_path / "work").exists()


def test_a_run_already_in_the_work_folder_is_left_alone(tmp_path):
    _run_folder(tmp_path / "work" / "simclr_adios" / "seed_0", unfinished=True)
    (tmp_path / "results").mkdir()
    _call(tmp_path, "park_runs")
    (tmp_path / "work" / "simclr_adios" / "seed_0" / "backup" / "state").write_text("epoch 4")
    assert _call(tmp_path, "restore_parked") == ""
    assert (tmp_path / "work" / "simclr_adios" / "seed_0" / "backup" / "state").read_text() == "epoch 4"
