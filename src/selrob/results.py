"""Every run's metrics as tidy pandas tables (no torch import).

``load_runs`` gives one row per run: the spec's fields, the run's status and the scalar
summaries of its ``metrics.json`` (schema: ``docs/metrics-schema.md``). The long tables
(``corruption_table``, ``attack_table``, ...) keep one row per measurement for the figures.

Wide-table columns besides the spec fields:

* ``status``, ``reason``, ``epochs_done``, ``train_seconds``;
* ``test_accuracy`` and ``mean_selectivity``: the last training epoch's values;
* ``clean_accuracy``, ``eval_selectivity``: from ``selrob evaluate``;
* ``selectivity``: the measured network selectivity (evaluation's if present, else train-time);
* ``corrupted_accuracy`` (mean over corruptions x severities), ``corruption_drop`` (clean minus it);
* ``adv_<attack>_<norm>_<eps>``: accuracy under attack at one budget (see :func:`attack_column`);
* ``dim_<input_kind>_<measure>_{mean,early}``: dimensionality averaged over all layers, or over
  the early layers (the first third of the network's unit layers, at least one);
* ``grad_<statistic>_{mean,early}``: input-unit gradient variability, likewise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selrob import paths
from selrob.errors import OutputNotWritable, SelrobError
from selrob.io import write_atomic

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
_METRIC_PREFIXES = ("adv_", "dim_", "grad_")
_METRIC_NAMES = (
    "selectivity",
    "mean_selectivity",
    "eval_selectivity",
    "test_accuracy",
    "clean_accuracy",
    "corrupted_accuracy",
    "corruption_drop",
)
_RUN_NAMES = ("run_id", "status", "reason", "epochs_done", "train_seconds") + _METRIC_NAMES


class NoRuns(SelrobError):
    """A runs directory holds no run (no subdirectory with a spec.json)."""


@dataclass(frozen=True)
class Run:
    """One run directory as read from disk; ``metrics`` is {} when metrics.json is unreadable."""

    run_id: str
    path: Path
    spec: dict[str, Any]
    metrics: dict[str, Any]
    error: str | None = None


# --------------------------------------------------------------------------- reading


def _read_json(path: Path) -> tuple[dict[str, Any], str | None]:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        return {}, f"{path.name} missing"
    except (OSError, ValueError) as e:
        return {}, f"{path.name} unreadable: {e}"
    if not isinstance(obj, dict):
        return {}, f"{path.name} is not a JSON object"
    return obj, None


def read_runs(runs_dir: Path | str) -> list[Run]:
    """Every subdirectory of ``runs_dir`` holding a spec.json, sorted by name; NoRuns if none."""
    root = Path(runs_dir)
    hint = f"run `selrob sweep SWEEP.toml --out {root}` first"
    if not root.is_dir():
        raise NoRuns(f"RUNS_DIR {root} does not exist: {hint}")
    runs = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if not paths.spec_file(d).is_file():
            continue
        spec, spec_err = _read_json(paths.spec_file(d))
        metrics, met_err = _read_json(paths.metrics_file(d))
        runs.append(Run(d.name, d, spec, metrics, spec_err or met_err))
    if not runs:
        raise NoRuns(f"RUNS_DIR {root} has no runs: {hint}")
    return runs


def _num(v: Any) -> float:
    """A JSON number as float; NaN for null, missing or non-numeric values."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return math.nan
    return float(v)


def _mean(values: Iterable[Any]) -> float:
    vals = [x for x in (_num(v) for v in values) if math.isfinite(x)]
    return float(np.mean(vals)) if vals else math.nan


def _evaluation(run: Run) -> dict[str, Any]:
    ev = run.metrics.get("evaluation")
    return ev if isinstance(ev, dict) else {}


def _records(run: Run, key: str) -> list[dict[str, Any]]:
    rows = _evaluation(run).get(key)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _status(run: Run) -> str:
    if run.error and not run.metrics:
        return "missing" if "missing" in run.error else "unreadable"
    return str(run.metrics.get("status") or "unknown")


# --------------------------------------------------------------------------- wide table


def attack_column(attack: str, norm: str, epsilon: float) -> str:
    """Column name of accuracy under one attack, e.g. ``adv_pgd_linf_0.003922``."""
    return f"adv_{attack}_{norm}_{epsilon:.4g}"


def _layer_order(rows: list[dict[str, Any]]) -> dict[str, int]:
    order: dict[str, int] = {}
    for r in rows:
        order.setdefault(str(r.get("layer")), len(order))
    return order


def _early(order: dict[str, int]) -> set[str]:
    n = max(1, math.ceil(len(order) / 3))
    return {layer for layer, i in order.items() if i < n}


def _layer_summaries(
    rows: list[dict[str, Any]], prefix: str, group: Callable[[dict[str, Any]], str]
) -> dict[str, float]:
    """``{prefix}{group}_mean`` over all layers and ``..._early`` over the early layers."""
    early = _early(_layer_order(rows))
    out: dict[str, float] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(group(r), []).append(r)
    for name, rs in groups.items():
        out[f"{prefix}{name}_mean"] = _mean(r.get("value") for r in rs)
        out[f"{prefix}{name}_early"] = _mean(r.get("value") for r in rs if r.get("layer") in early)
    return out


def _spec_fields(spec: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in spec.items():
        name = f"spec_{k}" if k in _RUN_NAMES or k.startswith(_METRIC_PREFIXES) else k
        out[name] = json.dumps(v) if isinstance(v, list | dict) else v
    return out


def _run_row(run: Run) -> dict[str, Any]:
    m, ev = run.metrics, _evaluation(run)
    epochs = [e for e in m.get("epochs") or [] if isinstance(e, dict)]
    row: dict[str, Any] = {"run_id": run.run_id, **_spec_fields(run.spec)}
    row["status"] = _status(run)
    row["reason"] = m.get("reason") or run.error
    row["epochs_done"] = len(epochs)
    row["train_seconds"] = float(sum(_num(e.get("seconds")) for e in epochs)) if epochs else 0.0
    row["test_accuracy"] = _num(m.get("test_accuracy"))
    row["mean_selectivity"] = _num(m.get("mean_selectivity"))
    row["clean_accuracy"] = _num(ev.get("clean_accuracy"))
    sel = ev.get("selectivity") if isinstance(ev.get("selectivity"), dict) else {}
    row["eval_selectivity"] = _num(sel.get("mean"))
    s = row["eval_selectivity"]
    row["selectivity"] = s if math.isfinite(s) else row["mean_selectivity"]
    row["corrupted_accuracy"] = _mean(r.get("accuracy") for r in _records(run, "corruptions"))
    row["corruption_drop"] = row["clean_accuracy"] - row["corrupted_accuracy"]
    attacks: dict[str, list[Any]] = {}
    for r in _records(run, "attacks"):
        col = attack_column(str(r.get("attack")), str(r.get("norm")), _num(r.get("epsilon")))
        attacks.setdefault(col, []).append(r.get("accuracy"))
    row.update({col: _mean(v) for col, v in attacks.items()})
    dim = _records(run, "dimensionality")
    row.update(_layer_summaries(dim, "dim_", lambda r: f"{r.get('input_kind')}_{r.get('measure')}"))
    grad = _records(run, "gradients")
    row.update(_layer_summaries(grad, "grad_", lambda r: str(r.get("statistic"))))
    return row


def _runs_frame(runs: list[Run]) -> pd.DataFrame:
    df = pd.DataFrame([_run_row(r) for r in runs])
    for col in ("alpha", "seed"):
        if col not in df:
            df[col] = math.nan
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df.sort_values(["alpha", "seed", "run_id"], kind="stable").reset_index(drop=True)


def load_runs(runs_dir: Path | str) -> pd.DataFrame:
    """One row per run (every status), sorted by alpha, seed, run_id; NoRuns if none."""
    return _runs_frame(read_runs(runs_dir))


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The wide table's measured quantities (selectivity, accuracies, adv_*, dim_*, grad_*)."""
    return [c for c in df.columns if c in _METRIC_NAMES or str(c).startswith(_METRIC_PREFIXES)]


def attack_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The ``adv_*`` columns as a table (attack, norm, epsilon, column), sorted."""
    rows = []
    for c in df.columns:
        if str(c).startswith("adv_"):
            _, attack, norm, eps = str(c).split("_", 3)
            rows.append({"attack": attack, "norm": norm, "epsilon": float(eps), "column": c})
    out = pd.DataFrame(rows, columns=["attack", "norm", "epsilon", "column"])
    return out.sort_values(["attack", "norm", "epsilon"]).reset_index(drop=True)


def mid_epsilon_column(df: pd.DataFrame, attack: str | None = None, norm: str | None = None) -> str:
    """Column of the middle non-zero budget (upper middle for an even count) of one attack.

    Defaults: PGD L-inf if present, else the first attack; its first norm. "" if none.
    """
    cols = attack_columns(df)
    cols = cols[cols["epsilon"] > 0]
    pgd_linf = (cols["attack"] == "pgd") & (cols["norm"] == "linf")
    if attack is None and norm is None and pgd_linf.any():
        attack, norm = "pgd", "linf"
    for key, want in (("attack", attack), ("norm", norm)):
        if not cols.empty:
            cols = cols[cols[key] == (want if want is not None else cols[key].iloc[0])]
    return "" if cols.empty else str(cols["column"].iloc[len(cols) // 2])


# --------------------------------------------------------------------------- long tables


def _long_rows(run: Run, name: str) -> list[dict[str, Any]]:
    if name == "selectivity_layers":
        out = []
        sel = _evaluation(run).get("selectivity") or {}
        epochs = [e for e in run.metrics.get("epochs") or [] if isinstance(e, dict)]
        train = epochs[-1].get("selectivity_per_layer") if epochs else None
        for source, per_layer in (("eval", sel.get("per_layer")), ("train", train)):
            if isinstance(per_layer, dict):
                out += [{"layer": k, "layer_index": i, "source": source, "selectivity": _num(v)}
                        for i, (k, v) in enumerate(per_layer.items())]  # fmt: skip
        return out
    rows = [dict(r) for r in _records(run, name)]
    if name in ("dimensionality", "gradients"):
        order = _layer_order(rows)
        for r in rows:
            r["layer_index"] = order[str(r.get("layer"))]
    return rows


def _long_frame(runs: list[Run], name: str) -> pd.DataFrame:
    if name not in _LONG_COLUMNS:
        raise KeyError(name)
    rows = []
    for run in runs:
        keys = {"run_id": run.run_id, "alpha": _num(run.spec.get("alpha")),
                "seed": _num(run.spec.get("seed")), "status": _status(run)}  # fmt: skip
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
    return _runs_frame(runs), {name: _long_frame(runs, name) for name in TABLES}


# --------------------------------------------------------------------------- summaries, files


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per-alpha means over the complete runs: alpha, n (seeds), then the headline metrics."""
    done = df[df["status"] == "complete"] if "status" in df else df
    cols = [c for c in ("selectivity", "clean_accuracy", "test_accuracy", "corrupted_accuracy",
                        "corruption_drop") if c in done and done[c].notna().any()]  # fmt: skip
    adv = mid_epsilon_column(done)
    if adv and done[adv].notna().any():
        cols.append(adv)
    grouped = done.groupby("alpha", sort=True)
    out = grouped[cols].mean()
    out.insert(0, "n", grouped.size())
    return out.reset_index()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """:func:`selrob.io.write_atomic`, with OS errors turned into OutputNotWritable."""
    try:
        write_atomic(path, write)
    except OSError as e:
        raise OutputNotWritable(
            f"cannot write {path}: {e}; check the directory's permissions"
        ) from e


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
    """Write results.csv, results.parquet and results_<table>.csv into ``runs_dir``."""
    root = Path(runs_dir)
    df, tables = load_all(root)
    csv_path, parquet_path = root / "results.csv", root / "results.parquet"
    atomic_write(csv_path, lambda p: df.to_csv(p, index=False))
    atomic_write(parquet_path, lambda p: _parquet_safe(df).to_parquet(p, index=False))
    for name, table in tables.items():
        atomic_write(root / f"results_{name}.csv", lambda p, t=table: t.to_csv(p, index=False))
    return csv_path, parquet_path
