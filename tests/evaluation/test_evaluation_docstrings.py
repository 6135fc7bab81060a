"""Runs the `Example:` sections of the evaluation docstrings as doctests."""

import doctest
import importlib

import pytest

MODULES = [
    "background_robustness",
    "clustering_metrics",
    "feature_extraction",
    "kmeans",
    "knn",
    "linear_probe",
    "mask_metrics",
    "occlusion",
    "representation",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"keras_adios.evaluation.{name}")
    results = doctest.testmod(
        module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert results.attempted > 0
    assert results.failed == 0
