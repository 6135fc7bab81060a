"""The TPU-style step on CPU: `jit_compile=True`, static shapes, several steps
per execution (`drop_remainder=True` batches) gives the same training as the
non-compiled step. XLA cannot compile the MirroredStrategy step across two
CPU devices (variables on another device), so this runs on the default
strategy; on a TPU the same step runs under `TPUStrategy`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dist_helpers import assert_pair_close, load, run_script  # noqa: E402


def test_jit_compiled_step_matches(tmp_path):
    path = tmp_path / "out.npz"
    run_script("mirrored_step.py", path, "jit")
    results = load(path)
    _, logs = assert_pair_close(results, "jit", "nojit", "jit", atol=1e-5, rtol=1e-4)
    assert logs["loss"][0] > 0
