"""Runs the `Example:` sections of the callback docstrings as doctests."""

import doctest
import importlib

import pytest

MODULES = ["knn_monitor", "mask_grid", "mask_visualizer", "metrics_logger"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"keras_adios.callbacks.{name}")
    results = doctest.testmod(
        module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert results.attempted > 0
    assert results.failed == 0
