"""The uninterrupted reference sweep both executor test files compare against."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.sweeps import TINY, tiny_runtime

from selrob.sweep import sweep_from_dict
from selrob.sweep.executors import run_sweep


@pytest.fixture(scope="module")
def reference(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TINY sweep run uninterrupted by the local executor, one run after another."""
    root = tmp_path_factory.mktemp("reference")
    report = run_sweep(sweep_from_dict(TINY), root, tiny_runtime(idx_dir))
    assert [r.status for r in report.runs] == ["complete", "complete"]
    return root
