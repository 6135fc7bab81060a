"""Fixtures shared by the layer tests (the helpers live in `tests/harness.py`)."""

import pytest

import harness


@pytest.fixture
def run_jitted():
    return harness.run_jitted


@pytest.fixture
def docstring_example():
    return harness.docstring_code
