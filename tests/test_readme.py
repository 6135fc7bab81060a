"""The README's "Using the library" block runs as written (current backend),
and every path the README names exists."""

import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _library_block():
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("## Using the library", 1)[1]
    return section.split("```python", 1)[1].split("```", 1)[0]


def test_using_the_library_block_runs(tmp_path, monkeypatch):
    # Smaller data and one epoch keep the test short; the code is the README's.
    code = _library_block()
    assert "model.fit(pairs, epochs=2)" in code and "num_images=1024" in code
    code = code.replace("num_images=1024", "num_images=256").replace("epochs=2", "epochs=1")
    code = code.replace("/tmp/adios.keras", str(tmp_path / "adios.keras"))
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert tuple(namespace["features"].shape) == (128, 64)
    import keras

    masks = keras.ops.convert_to_numpy(namespace["masks"])
    assert masks.shape == (128, 32, 32, 4)
    np.testing.assert_allclose(masks.sum(-1), 1.0, atol=1e-5)
    assert (tmp_path / "adios.keras").exists()


def test_every_repository_path_the_readme_names_exists():
    """Links, pictures and `path/like/this` mentions of the README and docs/ point at real files."""
    import glob
    import re

    made_at_run_time = {"guides/runs/"}  # the guides' output folder (git ignores it)
    missing = []
    for name in ["README.md"] + sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)):
        path = os.path.join(ROOT, name)
        text = open(path).read()
        for target in re.findall(r"\]\(([^)#\s]+)\)", text):
            if not target.startswith(("http://", "https://", "mailto:")):
                if not os.path.exists(os.path.join(os.path.dirname(path), target)):
                    missing.append((name, target))
        mentioned = r"`((?:benchmarks|docs|examples|guides|keras_adios|scripts|tests)/[^`\s]+)`"
        for target in re.findall(mentioned, text):
            target = target.split("::")[0]
            if re.search(r"[<>*{}]", target) or target in made_at_run_time:
                continue  # a pattern, not a file
            if not os.path.exists(os.path.join(ROOT, target)):
                missing.append((name, target))
    assert not missing, missing
