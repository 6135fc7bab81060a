"""Fixtures shared by the data tests."""

import os

import numpy as np
import pytest
from PIL import Image


def _write_image_folder(root, classes=("cat", "dog"), per_class=3, sizes=((20, 30),), seed=0):
    """Writes PNGs `root/<class>/<i>.png`; returns {path: (array, label)}."""
    rng = np.random.default_rng(seed)
    written = {}
    for label, name in enumerate(sorted(classes)):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            h, w = sizes[i % len(sizes)]
            array = rng.integers(0, 256, (h, w, 3), dtype="uint8")
            path = os.path.join(root, name, f"{i}.png")
            Image.fromarray(array).save(path)
            written[path] = (array, label)
    return written


@pytest.fixture
def write_image_folder():
    return _write_image_folder
