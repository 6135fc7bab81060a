"""The README's quality tables agree with the tables benchmarks/quality.py wrote.

The README copies numbers by hand from `benchmarks/results/quality_matrix_*.md`
into tables with its own columns. For every such table (tied to its file by
the last `quality_matrix_*.md` the README names before it, or by its header
`SimCLR on \\`DATASET\\``), every number cell must be the generated cell of the
same row and column, and a bold difference must be one the file calls
resolved (larger than twice its standard error), and the other way round.
"""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
README = os.path.join(ROOT, "README.md")
#: The pages whose tables copy generated results: the README and docs/quality.md.
PAGES = (README, os.path.join(ROOT, "docs", "quality.md"))

#: README column title -> generated column title.
COLUMNS = {"mask confidence": "mask conf.", "CPU time": "CPU time"}
OBJECTIVES = {"BYOL": "byol", "SimSiam": "simsiam"}


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _tables(lines):
    """`(start line, rows)` of every markdown table in `lines`; rows are lists of cells."""
    tables, i = [], 0
    while i < len(lines) - 1:
        if lines[i].startswith("|") and re.match(r"^\|(\s*-+\s*\|)+\s*$", lines[i + 1]):
            rows, j = [_cells(lines[i])], i + 2
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(_cells(lines[j]))
                j += 1
            tables.append((i, rows))
            i = j
        else:
            i += 1
    return tables


def _generated(name):
    """The generated file's tables: `{"means": {(objective, masking): {column: cell}},
    "differences": {...}, "comparisons": {(objective, masking, against): {...}}}`."""
    path = os.path.join(RESULTS, name + ".md")
    lines = open(path).read().splitlines()
    out = {"means": {}, "differences": {}, "comparisons": {}}
    for kind, (_, rows) in zip(("means", "differences", "comparisons"), _tables(lines)):
        header = rows[0]
        width = 3 if kind == "comparisons" else 2
        for row in rows[1:]:
            out[kind][tuple(row[:width])] = dict(zip(header[width:], row[width:]))
    return out


def _readme_tables():
    """Every table of `PAGES` tied to a generated file: `(file, (page, line), rows)`."""
    found = []
    for page in PAGES:
        found += [(name, (os.path.relpath(page, ROOT), line), rows) for name, line, rows in _page_tables(page)]
    return found


def _page_tables(page):
    """Every table of one page tied to a generated file: `(file, line, rows)`."""
    lines = open(page).read().splitlines()
    found = []
    for start, rows in _tables(lines):
        header = rows[0][0]
        named = re.search(r"SimCLR on `([a-z0-9_]+)`", header)
        if named:
            found.append((f"quality_matrix_{named.group(1)}", start, rows))
            continue
        before = "\n".join(lines[max(0, start - 12):start])
        files = re.findall(r"benchmarks/results/(quality_matrix_[a-z0-9_]+)\.md", before)
        if files and (header.startswith("SimCLR, seeds") or header.startswith("`shapes32")):
            found.append((files[-1], start, rows))
    return found


def _row_key(label, default_objective="simclr"):
    """README row label -> (objective, masking) of the generated means table."""
    label = re.sub(r"\s*\(.*?\)", "", label).strip()
    if label == "untrained encoder":
        return ("–", "untrained encoder")
    objective = default_objective
    for name, key in OBJECTIVES.items():
        if label.startswith(name):
            objective, label = key, label[len(name):].lstrip(" ,+").strip()
    masking = {"ADIOS": "ADIOS", "ADIOS-s": "ADIOS-s"}.get(label, label)
    return (objective, masking)


def _check_number(readme_cell, generated_cell, where):
    text = readme_cell.replace("**", "").strip()
    if not text or text == "–" or not re.search(r"\d", text):
        return
    generated = generated_cell.strip()
    assert generated.startswith(text), f"{where}: README {text!r}, generated {generated!r}"
    if "resolved" in generated or "within 2 SE" in generated:
        assert readme_cell.startswith("**") == ("resolved" in generated), (
            f"{where}: README bold {readme_cell.startswith('**')}, generated {generated!r}")


TABLES = _readme_tables()


def test_the_readme_names_its_tables():
    # The matrix section has its three means tables, two difference tables, BYOL/SimSiam.
    assert len(TABLES) >= 5, [t[:2] for t in TABLES]


@pytest.mark.parametrize("name,start,rows", TABLES, ids=[f"{t[1][0]}:line{t[1][1] + 1}" for t in TABLES])
def test_readme_table_agrees_with_its_file(name, start, rows):
    generated = _generated(name)
    header = rows[0]
    checked = 0
    for row in rows[1:]:
        label = row[0]
        where = f"{start[0]} line {start[1] + 1}, {name}, row {label!r}"
        if " minus " in label:
            first, second = (re.sub(r"\s*\(.*?\)", "", part).strip() for part in label.split(" minus "))
            if second == "no masks":
                source = generated["differences"][("simclr", first)]
            else:
                source = generated["comparisons"][("simclr", first, second)]
        else:
            source = generated["means"][_row_key(label)]
        for title, cell in zip(header[1:], row[1:]):
            column = COLUMNS.get(title, title)
            if column not in source:
                continue  # a README-only column (CPU seconds)
            _check_number(cell, source[column], f"{where}, column {title!r}")
            checked += 1
    assert checked >= len(rows) - 1
