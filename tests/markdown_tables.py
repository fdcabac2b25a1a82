"""Reading the Markdown tables of the README, the docs and the result files (tests only)."""

import itertools


def markdown_tables(text):
    """Every Markdown table of `text`: (header cells, rows of cells)."""
    tables, lines = [], text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.startswith("| ") and lines[index + 1].startswith("| ---"):
            rows = itertools.takewhile(lambda row: row.startswith("| "), lines[index + 2:])
            tables.append((cells(line), [cells(row) for row in rows]))
    return tables


def cells(row):
    """The cell texts of one table row."""
    return [cell.strip() for cell in row.strip().strip("|").split("|")]
