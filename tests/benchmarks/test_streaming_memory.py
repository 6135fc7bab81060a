"""benchmarks/streaming_memory.py at a small scale: a streamed run's memory does not follow the dataset.

From 300 to 3000 images on disk, an in-memory (`npz:`) run's peak memory grows by
several times the images' bytes, a streamed (`folder:`) run's by a fraction of it
(the shuffle buffer filling). The full-size figures are in the README.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import streaming_memory  # noqa: E402


def test_a_streamed_run_grows_far_less_than_an_in_memory_one(tmp_path):
    small, large = streaming_memory.measure([300, 3000], image_size=64, steps=4, work_dir=str(tmp_path))
    images = large["image_mb"] - small["image_mb"]  # about 32 MiB
    streamed = large["folder"]["peak_rss_mb"] - small["folder"]["peak_rss_mb"]
    in_memory = large["npz"]["peak_rss_mb"] - small["npz"]["peak_rss_mb"]
    assert in_memory > 2 * images, (in_memory, images)
    assert streamed < 0.25 * in_memory, (streamed, in_memory)
