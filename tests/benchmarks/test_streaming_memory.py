"""benchmarks/streaming_memory.py at a small scale: a streamed run's memory does not follow the dataset.

From 300 to 6000 images on disk, an in-memory (`npz:`) run's peak memory grows by
several times the images' bytes. A streamed (`folder:`) run holds at most
`--shuffle_buffer` decoded images; with a buffer of 200 both sizes fill it, so
its peak should hardly grow with the dataset (only the features do, 16 floats
per image, and the allocator's high-water mark over more evaluation batches:
30-70 MiB here from run to run, hence the wide gap between the two sizes).
The full-size figures (default buffer) are in the README.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import streaming_memory  # noqa: E402


def test_a_streamed_run_grows_far_less_than_an_in_memory_one(tmp_path):
    small, large = streaming_memory.measure(
        [300, 6000], image_size=64, steps=4, work_dir=str(tmp_path), shuffle_buffer=200
    )
    images = large["image_mb"] - small["image_mb"]  # about 67 MiB
    streamed = large["folder"]["peak_rss_mb"] - small["folder"]["peak_rss_mb"]
    in_memory = large["npz"]["peak_rss_mb"] - small["npz"]["peak_rss_mb"]
    assert in_memory > 2 * images, (in_memory, images)
    assert streamed < 0.25 * in_memory, (streamed, in_memory)
