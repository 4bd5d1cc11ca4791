"""The severity tables: table choice by image size, and agreement with the parameter tables of
docs/corruptions.md (an independent transcription of the published generators).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from selrob.perturb.corruptions.tables import TABLES, table_for, table_size

DOCS = Path(__file__).resolve().parents[3] / "docs" / "corruptions.md"


@pytest.mark.parametrize(
    ("size", "expected"), [(28, 32), (32, 32), (47, 32), (48, 64), (64, 64), (159, 64), (160, 224)]
)
def test_table_size(size, expected):
    assert table_size(size) == expected


def _md_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.match(r"([a-z_]+) \(", cells[0])
        if m and len(cells) == 4 and m.group(1) != "corruption":
            name = "elastic_transform" if m.group(1) == "elastic" else m.group(1)
            rows[name] = cells[1:]
    return rows


def test_tables_match_the_docs():
    """The code's tables agree with docs/corruptions.md wherever the doc lists numbers."""
    rows = _md_rows(DOCS.read_text(encoding="utf-8"))
    assert set(rows) == set(TABLES)
    checked = 0
    for name, cells in rows.items():
        for size, cell in zip((32, 64, 224), cells, strict=True):
            cell = cell.split(";")[0]
            scale = 1.0
            if m := re.match(r"×(\d+):", cell):
                scale, cell = float(m.group(1)), cell[m.end() :]
            tuples = re.findall(r"\(([^)]*)\)", cell)
            table = table_for(name, size)
            if "→" in cell:  # zoom_blur's arange end points: checked in its own test
                continue
            if len(tuples) == 5:
                for row, tup in zip(table, tuples, strict=True):
                    nums = [float(v) * scale for v in tup.split(",")]
                    assert np.allclose(row[: len(nums)], nums), (name, size, row, nums)
                checked += 1
                continue
            nums = re.findall(r"(?<![\w.])(\d*\.?\d+)(?![\w.])", cell.replace("(BOX up)", ""))
            nums = [n for n in nums if not cell.startswith("same")]
            if len(nums) == 5:
                assert np.allclose(table, [float(v) for v in nums]), (name, size)
                checked += 1
    assert checked >= 45  # 15 scalar/tuple corruptions x 3 sizes, at least
