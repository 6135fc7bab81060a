"""The docs pages: generated ones equal their source, and nothing the README once held is lost."""

import glob
import importlib.metadata
import os

import pytest

import keras_adios
from keras_adios import experiment_settings

# Reads text files only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Every results file (or prefix) the 0.1.0 README named, before its reference
#: sections moved to docs/: each must still be named by the README or a page.
NAMED_BEFORE_THE_SPLIT = (
    "benchmarks/results/calibration.md",
    "benchmarks/results/feature_layout_torch.md",
    "benchmarks/results/input_pipeline.md",
    "benchmarks/results/long_budget.md",
    "benchmarks/results/matrix",
    "benchmarks/results/mixed_precision",
    "benchmarks/results/occlusion_shapes32.md",
    "benchmarks/results/profile_components_tensorflow.md",
    "benchmarks/results/quality.md",
    "benchmarks/results/quality_curves_matrix_shapes32.png",
    "benchmarks/results/quality_curves_matrix_shapes32_headline.png",
    "benchmarks/results/quality_curves_matrix_shapes32_shortcut.png",
    "benchmarks/results/quality_masks_over_epochs_matrix_shapes32_shortcut.png",
    "benchmarks/results/quality_matrix_shapes32.md",
    "benchmarks/results/quality_matrix_shapes32_headline.md",
    "benchmarks/results/quality_matrix_shapes32_others.md",
    "benchmarks/results/quality_matrix_shapes32_shortcut.md",
    "benchmarks/results/quality_matrix_shapes32_shortcut_headline.md",
    "benchmarks/results/quality_matrix_shapes32_shortcut_others.md",
    "benchmarks/results/quickstart_investigation.md",
    "benchmarks/results/simsiam_sparsity",
    "benchmarks/results/streaming_memory.md",
    "benchmarks/results/sweep",
    "benchmarks/results/throughput",
    "benchmarks/results/throughput_tensorflow.md",
    "benchmarks/results/throughput_tensorflow_n4_wall.md",
    "benchmarks/results/throughput_torch_b64.md",
    "benchmarks/results/torch_jit.md",
    "benchmarks/results/vs_reference",
    "benchmarks/results/vs_reference.md",
)


def _pages():
    names = ["README.md"] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    return {os.path.relpath(os.path.join(ROOT, n), ROOT): open(os.path.join(ROOT, n)).read() for n in names}


def test_cli_page_is_generated_from_the_settings():
    with open(os.path.join(ROOT, "docs", "cli.md")) as f:
        committed = f.read()
    assert committed == experiment_settings.cli_reference(), (
        "docs/cli.md is stale: run python -m keras_adios.experiment_settings > docs/cli.md")
    for setting in experiment_settings.SETTINGS:
        assert f"| `--{setting.name}` |" in committed


def test_every_results_file_the_readme_named_is_still_named_by_a_page():
    text = "\n".join(_pages().values())
    lost = [name for name in NAMED_BEFORE_THE_SPLIT if name not in text]
    assert not lost, lost


def test_docs_index_links_every_page():
    index = open(os.path.join(ROOT, "docs", "README.md")).read()
    for path in glob.glob(os.path.join(ROOT, "docs", "*.md")):
        name = os.path.basename(path)
        if name != "README.md":
            assert f"]({name})" in index, name


def test_readme_is_a_front_door():
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert len(readme.splitlines()) <= 250
    for page in ("docs/speed.md", "docs/quality.md", "docs/cli.md", "docs/README.md"):
        assert f"]({page}" in readme, page


def test_version_matches_the_package_metadata():
    assert keras_adios.__version__ == importlib.metadata.version("keras-adios")
