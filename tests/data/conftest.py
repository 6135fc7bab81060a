"""Fixtures shared by the data tests."""

import pytest

import harness


@pytest.fixture
def write_image_folder():
    return harness.write_image_folder
