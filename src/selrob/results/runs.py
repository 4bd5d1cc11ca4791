"""Run directories as read from disk, tolerantly: a damaged file becomes an ``error`` string on
the :class:`Run`, never an exception, so tables can be built from whatever is readable.

Also the small helpers every table uses to read numbers out of ``metrics.json``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selrob import paths
from selrob.errors import NoRuns
from selrob.storage import read_json_object

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    """One run directory as read from disk; ``metrics`` is {} when metrics.json is unreadable."""

    run_id: str
    path: Path
    spec: dict[str, Any]
    metrics: dict[str, Any]
    error: str | None = None


def read_runs(runs_dir: Path | str) -> list[Run]:
    """Every run directory of ``runs_dir`` (named by its hash, holding a spec.json), sorted by
    name; NoRuns if none. Runs moved aside by ``--rerun`` are not read."""
    root = Path(runs_dir)
    hint = f"run `selrob sweep SWEEP.toml --out {root}` first"
    if not root.is_dir():
        raise NoRuns(f"RUNS_DIR {root} does not exist: {hint}")
    runs = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and paths.is_run_dir(p)):
        if not paths.spec_file(d).is_file():
            continue
        spec, spec_err = read_json_object(paths.spec_file(d))
        metrics, met_err = read_json_object(paths.metrics_file(d))
        run = Run(d.name, d, spec, metrics, spec_err or met_err)
        if status(run) == "unreadable":  # damaged files: one warning line, the run is skipped
            log.warning("%s: %s; skipped (selrob check %s lists every problem)", d, run.error, root)
        runs.append(run)
    if not runs:
        raise NoRuns(f"RUNS_DIR {root} has no runs: {hint}")
    return runs


def num(v: Any) -> float:
    """A JSON number as float; NaN for null, missing or non-numeric values."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return math.nan
    return float(v)


def mean(values: Iterable[Any]) -> float:
    vals = [x for x in (num(v) for v in values) if math.isfinite(x)]
    return float(np.mean(vals)) if vals else math.nan


def evaluation(run: Run) -> dict[str, Any]:
    ev = run.metrics.get("evaluation")
    return ev if isinstance(ev, dict) else {}


def records(run: Run, key: str) -> list[dict[str, Any]]:
    rows = evaluation(run).get(key)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def status(run: Run) -> str:
    if run.error and not run.metrics:
        return "missing" if "missing" in run.error else "unreadable"
    return str(run.metrics.get("status") or "unknown")
