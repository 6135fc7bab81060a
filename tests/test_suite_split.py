"""The test suite's split between backends (scripts/test.sh) keeps its promise.

Modules marked `backend_independent` run on TensorFlow alone, so they must not
touch a Keras tensor or a backend: whatever they check would be the same on
every backend. Everything else runs on all three.
"""

import glob
import os
import re

import pytest

pytestmark = pytest.mark.backend_independent

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
MARK = "pytest.mark.backend_independent"  # in a module's `pytestmark`, alone or in a list
#: What a module that runs on one backend only may not contain.
BACKEND_USE = re.compile(r"^import keras$|keras\.ops|keras\.backend|convert_to_tensor|KERAS_BACKEND", re.M)


def _marked_modules():
    paths = glob.glob(os.path.join(TESTS, "**", "test_*.py"), recursive=True)
    this = os.path.abspath(__file__)  # holds the pattern itself
    return sorted(p for p in paths if MARK in open(p).read() and os.path.abspath(p) != this)


def test_backend_independent_modules_use_no_keras_tensor():
    marked = _marked_modules()
    assert len(marked) >= 11, marked  # the data sources, the splits, CIFAR-10 and the docs
    for path in marked:
        source = open(path).read().replace(MARK, "")
        found = BACKEND_USE.findall(source)
        assert not found, f"{os.path.relpath(path, ROOT)} is marked backend_independent but uses {found}"


def test_the_test_command_deselects_them_only_off_tensorflow():
    script = open(os.path.join(ROOT, "scripts", "test.sh")).read()
    assert '[ "$backend" != tensorflow ] && ONLY=(-m "not backend_independent")' in script
    assert '"${ONLY[@]}" tests' in script
    assert script.count("backend_independent") == 2  # the comment and the deselection, nowhere else
