"""The long tables (one row per measurement, for the figures) and the files ``results``
writes: ``results.csv``, ``results.parquet`` and ``results_<table>.csv`` (names from
:mod:`selrob.paths`, writes atomic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from selrob import paths
from selrob.results.runs import Run, evaluation, num, read_runs, records, status
from selrob.results.wide import layer_order, runs_frame
from selrob.storage import atomic_write

TABLES = ("corruptions", "attacks", "dimensionality", "gradients", "selectivity_layers")
_KEYS = ["run_id", "alpha", "seed", "status"]
_LONG_COLUMNS = {
    "corruptions": _KEYS + ["corruption", "severity", "accuracy", "n"],
    "attacks": _KEYS + ["attack", "norm", "epsilon", "accuracy", "n"],
    "dimensionality": _KEYS
    + ["layer", "layer_index", "input_kind", "perturbation", "measure", "value"],
    "gradients": _KEYS + ["layer", "layer_index", "statistic", "value"],
    "selectivity_layers": _KEYS + ["layer", "layer_index", "source", "selectivity"],
}


def _long_rows(run: Run, name: str) -> list[dict[str, Any]]:
    if name == "selectivity_layers":
        out = []
        sel = evaluation(run).get("selectivity") or {}
        epochs = [e for e in run.metrics.get("epochs") or [] if isinstance(e, dict)]
        train = epochs[-1].get("selectivity_per_layer") if epochs else None
        for source, per_layer in (("eval", sel.get("per_layer")), ("train", train)):
            if isinstance(per_layer, dict):
                out += [{"layer": k, "layer_index": i, "source": source, "selectivity": num(v)}
                        for i, (k, v) in enumerate(per_layer.items())]  # fmt: skip
        return out
    rows = [dict(r) for r in records(run, name)]
    if name in ("dimensionality", "gradients"):
        order = layer_order(rows)
        for r in rows:
            r["layer_index"] = order[str(r.get("layer"))]
    return rows


def _long_frame(runs: list[Run], name: str) -> pd.DataFrame:
    if name not in _LONG_COLUMNS:
        raise KeyError(name)
    rows = []
    for run in runs:
        keys = {"run_id": run.run_id, "alpha": num(run.spec.get("alpha")),
                "seed": num(run.spec.get("seed")), "status": status(run)}  # fmt: skip
        rows += [{**keys, **r} for r in _long_rows(run, name)]
    df = pd.DataFrame(rows, columns=_LONG_COLUMNS[name])
    for col in ("alpha", "seed", "severity", "epsilon", "accuracy", "value", "selectivity", "n"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df.sort_values(["alpha", "seed", "run_id"], kind="stable").reset_index(drop=True)


def corruption_table(runs_dir: Path | str) -> pd.DataFrame:
    """run_id, alpha, seed, status, corruption, severity, accuracy, n."""
    return _long_frame(read_runs(runs_dir), "corruptions")


def attack_table(runs_dir: Path | str) -> pd.DataFrame:
    """run_id, alpha, seed, status, attack, norm, epsilon, accuracy, n."""
    return _long_frame(read_runs(runs_dir), "attacks")


def dimensionality_table(runs_dir: Path | str) -> pd.DataFrame:
    """run_id, alpha, seed, status, layer, layer_index, input_kind, perturbation, measure, value."""
    return _long_frame(read_runs(runs_dir), "dimensionality")


def gradient_table(runs_dir: Path | str) -> pd.DataFrame:
    """run_id, alpha, seed, status, layer, layer_index, statistic, value."""
    return _long_frame(read_runs(runs_dir), "gradients")


def selectivity_layer_table(runs_dir: Path | str) -> pd.DataFrame:
    """run_id, alpha, seed, status, layer, layer_index, source ("eval"|"train"), selectivity."""
    return _long_frame(read_runs(runs_dir), "selectivity_layers")


def load_all(runs_dir: Path | str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The wide table and every long table (keys: :data:`TABLES`), reading each run once."""
    runs = read_runs(runs_dir)
    return runs_frame(runs), {name: _long_frame(runs, name) for name in TABLES}


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed types become strings (None stays None)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            kinds = {type(v) for v in out[c] if v is not None and v == v}
            if len(kinds) > 1:
                out[c] = [None if v is None or v != v else str(v) for v in out[c]]
    return out


def save_results(runs_dir: Path | str) -> tuple[Path, Path]:
    """Write results.csv, results.parquet and results_<table>.csv into ``runs_dir``.

    The only files this module writes; names from :mod:`selrob.paths`, writes atomic.
    """
    root = Path(runs_dir)
    df, tables = load_all(root)
    csv_path, parquet_path = paths.results_csv(root), paths.results_parquet(root)
    atomic_write(csv_path, lambda p: df.to_csv(p, index=False))
    atomic_write(parquet_path, lambda p: _parquet_safe(df).to_parquet(p, index=False))
    for name, table in tables.items():
        atomic_write(paths.results_table(root, name), lambda p, t=table: t.to_csv(p, index=False))
    return csv_path, parquet_path
