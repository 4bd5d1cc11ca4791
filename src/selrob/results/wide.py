"""The wide table: one row per run with the spec's fields, its status and the scalar summaries
of its ``metrics.json`` (schema: ``docs/metrics-schema.md``).

Columns besides the spec fields:

* ``status``, ``reason``, ``epochs_done``, ``train_seconds``;
* ``test_accuracy`` and ``mean_selectivity``: the last training epoch's values;
* ``clean_accuracy``, ``eval_selectivity``: from ``selrob evaluate``;
* ``selectivity``: the measured network selectivity (evaluation's if present, else train-time);
* ``corrupted_accuracy`` (mean over corruptions x severities), ``corruption_drop`` (clean minus it);
* ``adv_<attack>_<norm>_<eps>``: accuracy under attack at one budget (see :func:`attack_column`);
* ``dim_<input_kind>_<measure>_{mean,early}``: dimensionality averaged over all layers, or over
  the early layers (the first third of the network's unit layers, at least one);
* ``grad_<statistic>_{mean,early}``: input-unit gradient variability, likewise;
* the measures that separate robustness from clean accuracy (relative accuracies, areas under
  the attack curves, ``eps50``, family means, ``mce`` / ``relative_mce``) and the number of
  test images behind them: :mod:`selrob.results.robustness`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from selrob.enums import RunStatus
from selrob.results import robustness
from selrob.results.runs import Run, evaluation, mean, num, read_runs, records, status

_METRIC_PREFIXES = (
    "adv_",
    "advrel_",
    "auc_",
    "aucrel_",
    "eps50_",
    "corrupted_family_",
    "dim_",
    "grad_",
)
_METRIC_NAMES = (
    "selectivity",
    "mean_selectivity",
    "eval_selectivity",
    "test_accuracy",
    "clean_accuracy",
    "corrupted_accuracy",
    "corruption_drop",
    "corrupted_accuracy_relative",
    "mce",
    "relative_mce",
)
_RUN_NAMES = ("run_id", "status", "reason", "epochs_done", "train_seconds") + _METRIC_NAMES


def attack_column(attack: str, norm: str, epsilon: float) -> str:
    """Column name of accuracy under one attack, e.g. ``adv_pgd_linf_0.003922``."""
    return f"adv_{attack}_{norm}_{epsilon:.4g}"


def layer_order(rows: list[dict[str, Any]]) -> dict[str, int]:
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
    early = _early(layer_order(rows))
    out: dict[str, float] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(group(r), []).append(r)
    for name, rs in groups.items():
        out[f"{prefix}{name}_mean"] = mean(r.get("value") for r in rs)
        out[f"{prefix}{name}_early"] = mean(r.get("value") for r in rs if r.get("layer") in early)
    return out


def _spec_fields(spec: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in spec.items():
        name = f"spec_{k}" if k in _RUN_NAMES or k.startswith(_METRIC_PREFIXES) else k
        out[name] = json.dumps(v) if isinstance(v, list | dict) else v
    return out


def _run_row(run: Run) -> dict[str, Any]:
    m, ev = run.metrics, evaluation(run)
    epochs = [e for e in m.get("epochs") or [] if isinstance(e, dict)]
    row: dict[str, Any] = {"run_id": run.run_id, **_spec_fields(run.spec)}
    row["status"] = status(run)
    row["reason"] = m.get("reason") or run.error
    row["epochs_done"] = len(epochs)
    row["train_seconds"] = float(sum(num(e.get("seconds")) for e in epochs)) if epochs else 0.0
    row["test_accuracy"] = num(m.get("test_accuracy"))
    row["mean_selectivity"] = num(m.get("mean_selectivity"))
    row["clean_accuracy"] = num(ev.get("clean_accuracy"))
    sel = ev.get("selectivity") if isinstance(ev.get("selectivity"), dict) else {}
    row["eval_selectivity"] = num(sel.get("mean"))
    s = row["eval_selectivity"]
    row["selectivity"] = s if math.isfinite(s) else row["mean_selectivity"]
    row["corrupted_accuracy"] = mean(r.get("accuracy") for r in records(run, "corruptions"))
    row["corruption_drop"] = row["clean_accuracy"] - row["corrupted_accuracy"]
    attacks: dict[str, list[Any]] = {}
    for r in records(run, "attacks"):
        col = attack_column(str(r.get("attack")), str(r.get("norm")), num(r.get("epsilon")))
        attacks.setdefault(col, []).append(r.get("accuracy"))
    row.update({col: mean(v) for col, v in attacks.items()})
    dim = records(run, "dimensionality")
    row.update(_layer_summaries(dim, "dim_", lambda r: f"{r.get('input_kind')}_{r.get('measure')}"))
    grad = records(run, "gradients")
    row.update(_layer_summaries(grad, "grad_", lambda r: str(r.get("statistic"))))
    row.update(robustness.run_columns(run))
    return row


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    df = pd.DataFrame([_run_row(r) for r in runs])
    for col in ("alpha", "seed"):
        if col not in df:
            df[col] = math.nan
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["train_mode"] = [robustness.train_mode(r.spec) for r in runs]
    df = robustness.add_corruption_errors(df, runs)
    return df.sort_values(["alpha", "seed", "run_id"], kind="stable").reset_index(drop=True)


def load_runs(runs_dir: Path | str) -> pd.DataFrame:
    """One row per run (every status), sorted by alpha, seed, run_id; NoRuns if none."""
    return runs_frame(read_runs(runs_dir))


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


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per-alpha means over the complete runs: alpha, n (seeds), then the headline metrics;
    per train mode and alpha when the runs have several train modes (or probes)."""
    done = df[df["status"] == RunStatus.COMPLETE] if "status" in df else df
    cols = [c for c in ("selectivity", "clean_accuracy", "test_accuracy", "corrupted_accuracy",
                        "corruption_drop") if c in done and done[c].notna().any()]  # fmt: skip
    adv = mid_epsilon_column(done)
    if adv and done[adv].notna().any():
        cols.append(adv)
    keys = ["alpha"]
    if "train_mode" in done and done["train_mode"].nunique() > 1:
        keys = ["train_mode", "alpha"]
    grouped = done.groupby(keys, sort=True, dropna=False)
    out = grouped[cols].mean()
    out.insert(0, "n", grouped.size())
    return out.reset_index()
