"""Two MultiWorkerMirroredStrategy workers on 127.0.0.1 train ADIOS (TensorFlow).

Also guards the Keras 3.15 workaround in
`keras_adios.distribute.multi_worker_patch`: unpatched Keras must still fail
with the known errors (when this test fails because Keras trains without the
patch, the workaround can be deleted), and the patched workers must train to
identical weights, with only the chief keeping a checkpoint.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def free_ports(n):
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("multi_worker")
    ports = free_ports(2)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    workers = [
        subprocess.Popen(
            [sys.executable, os.path.join(HERE, "multi_worker_worker.py"), str(out), str(i),
             str(ports[0]), str(ports[1])],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for w in workers:
            outputs.append(w.communicate(timeout=540)[0])
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    for i, (w, text) in enumerate(zip(workers, outputs)):
        if w.returncode != 0:
            pytest.fail(f"worker {i} exited with {w.returncode}:\n{text[-6000:]}")
    reports = []
    for i in range(2):
        with open(out / f"worker{i}.json") as f:
            reports.append(json.load(f))
    weights = [dict(np.load(out / f"worker{i}.npz")) for i in range(2)]
    return out, reports, weights


def test_unpatched_keras_still_fails(run):
    _, reports, _ = run
    for report in reports:
        assert report["patch_applied_before"] is False
        first, second = report["keras_errors"]
        assert first is not None and "PerReplica" in first, (
            "Keras' _maybe_symbolic_build no longer fails under multi-worker "
            "MWMS: drop patch 1 of keras_adios.distribute.multi_worker_patch"
        )
        assert second is not None and "Invalid reduction dimension" in second, (
            "Keras' reduce_per_replica no longer fails under multi-worker "
            "MWMS: drop patch 2 of keras_adios.distribute.multi_worker_patch"
        )


def test_patched_workers_train_identically(run):
    _, reports, weights = run
    for report in reports:
        assert report["num_replicas"] == 2
        assert report["patch_applied_after_compile"] is True
        assert report["changed"] is True
        history = report["history"]
        assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))
    assert reports[0]["history"] == reports[1]["history"]
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        np.testing.assert_array_equal(weights[0][key], weights[1][key])


def test_only_the_chief_writes_the_checkpoint(run):
    out, reports, _ = run
    assert [r["is_chief"] for r in reports] == [True, False]
    assert (out / "chief.weights.h5").stat().st_size > 0
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".h5")) == ["chief.weights.h5"]
