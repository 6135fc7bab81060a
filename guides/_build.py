"""Writes the guide notebooks (`guides/*.ipynb`, outputs stripped) from the cell sources below.

    python guides/_build.py          # rewrite every notebook
    python guides/_build.py --check  # exit 1 if a notebook differs from its source here

Edit the guides in `guides/_sources/`, not in the .ipynb files: one module
per guide, each with `CELLS`, a list of `(kind, source)` cells (kind "md" or
"code"). `GUIDES` below fixes the notebook names and their order.
"""

import os
import sys

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_sources"))

import g01_getting_started  # noqa: E402
import g02_objectives_and_masking  # noqa: E402
import g03_your_own_data  # noqa: E402
import g04_scaling_out  # noqa: E402

GUIDES = {
    "01_getting_started": g01_getting_started.CELLS,
    "02_objectives_and_masking": g02_objectives_and_masking.CELLS,
    "03_your_own_data": g03_your_own_data.CELLS,
    "04_scaling_out": g04_scaling_out.CELLS,
}

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def build(cells):
    """A notebook (nbformat v4, no outputs) from `(kind, source)` cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, source) in enumerate(cells):
        source = source.strip("\n")
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell["id"] = f"cell-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv):
    check = "--check" in argv
    stale = []
    for name, cells in GUIDES.items():
        path = os.path.join(HERE, f"{name}.ipynb")
        text = nbformat.writes(build(cells)) + "\n"
        if check:
            if not os.path.exists(path) or open(path).read() != text:
                stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {path}")
    if stale:
        print("out of date (run python guides/_build.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
