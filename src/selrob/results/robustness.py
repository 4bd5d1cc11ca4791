"""The robustness columns of the wide table that separate robustness from clean accuracy
(definitions in :mod:`selrob.measures` and ``docs/method.md``).

Per run, from its records: ``corrupted_accuracy_relative`` (mean corrupted / clean),
``corrupted_family_<family>`` (mean per benchmark family), and per (attack, norm)
``advrel_<attack>_<norm>_<eps>`` (accuracy / clean), ``auc_<attack>_<norm>`` and
``aucrel_<attack>_<norm>`` (area under the accuracy-vs-epsilon curve over the grid's span,
absolute and relative), ``eps50_<attack>_<norm>`` (NaN when censored) with
``eps50cens_<attack>_<norm>`` (1.0 when the curve stays above half its clean value).

Also the number of test images behind each measure (``n_test_images``,
``n_corruption_images``, ``n_attack_images_<attack>_<norm>``, ``n_dimensionality_images``,
``n_gradient_images``), which the report states beside every finding.

Across runs: ``mce`` and ``relative_mce``, the mean corruption error of Hendrycks & Dietterich
(2019) against the sweep's alpha = 0 runs (mean over seeds) as the baseline; NaN with a reason
in the report when there is no such run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from selrob import measures
from selrob.enums import RunStatus
from selrob.probe_spec import TORCHSCRIPT
from selrob.results.runs import Run, evaluation, mean, num, records

BASELINE_ALPHA = 0.0


def run_columns(run: Run) -> dict[str, Any]:
    """The per-run robustness columns of one run."""
    row: dict[str, Any] = {}
    ev = evaluation(run)
    clean = num(ev.get("clean_accuracy"))
    corr = records(run, "corruptions")
    corrupted = mean(r.get("accuracy") for r in corr)
    ok = math.isfinite(clean) and clean > 0 and math.isfinite(corrupted)
    row["corrupted_accuracy_relative"] = corrupted / clean if ok else math.nan
    families: dict[str, list[Any]] = {}
    for r in corr:
        if r.get("family"):
            families.setdefault(str(r["family"]), []).append(r.get("accuracy"))
    row.update({f"corrupted_family_{f}": mean(v) for f, v in sorted(families.items())})
    row["n_corruption_images"] = min(
        (int(num(r.get("n"))) for r in corr if math.isfinite(num(r.get("n")))), default=0
    )
    n_test = num(ev.get("n_test"))
    row["n_test_images"] = n_test
    spec = ev.get("spec") if isinstance(ev.get("spec"), dict) else {}
    for section, key, name in (("dimensionality", "analysis_samples", "n_dimensionality_images"),
                               ("gradients", "gradient_samples", "n_gradient_images")):  # fmt: skip
        samples = num(spec.get(key)) if records(run, section) else math.nan
        row[name] = min(samples, n_test) if math.isfinite(n_test) else samples
    attacks = records(run, "attacks")
    for m in measures.attack_measures([r for r in attacks if _attack_record_ok(r)]):
        key = f"{m['attack']}_{m['norm']}"
        row[f"auc_{key}"] = _nan(m["auc"])
        row[f"aucrel_{key}"] = _nan(m["auc_relative"])
        row[f"eps50_{key}"] = _nan(m["eps50"])
        row[f"eps50cens_{key}"] = 1.0 if m["eps50_censored"] else 0.0
        for rel in m["relative"]:
            row[f"advrel_{key}_{rel['epsilon']:.4g}"] = rel["relative_accuracy"]
        row[f"n_attack_images_{key}"] = m["n"]
    return row


def _attack_record_ok(r: dict[str, Any]) -> bool:
    return all(k in r for k in ("attack", "norm", "epsilon", "accuracy")) and all(
        math.isfinite(num(r.get(k))) for k in ("epsilon", "accuracy")
    )


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _errors(run: Run) -> tuple[dict[tuple[str, int], float], float]:
    """``({(corruption, severity): error}, clean error)`` of one run."""
    clean = num(evaluation(run).get("clean_accuracy"))
    errs = {}
    for r in records(run, "corruptions"):
        acc, sev = num(r.get("accuracy")), num(r.get("severity"))
        if math.isfinite(acc) and math.isfinite(sev):
            errs[(str(r.get("corruption")), int(sev))] = 1.0 - acc
    return errs, 1.0 - clean


def train_mode(spec: dict[str, Any]) -> str:
    """A run's train mode ("probe: <model>" for a probed model, "probe: torchscript@<sha>" for
    a TorchScript file); runs made before train modes existed are standard."""
    if spec.get("model_source") == TORCHSCRIPT:
        return f"probe: torchscript@{str(spec.get('weights_sha256') or '')[:8]}"
    if "model_source" in spec:
        return f"probe: {spec['model_source']}"
    return str(spec.get("train_mode") or "standard")


def baseline_errors(runs: list[Run], statuses: dict[str, str]) -> tuple[dict, float] | None:
    """The standard-trained alpha = 0 complete runs' errors, averaged over seeds; None when
    there is none."""
    base = [r for r in runs if num(r.spec.get("alpha")) == BASELINE_ALPHA
            and train_mode(r.spec) == "standard"
            and statuses.get(r.run_id) == RunStatus.COMPLETE and records(r, "corruptions")]  # fmt: skip
    if not base:
        return None
    per = [_errors(r) for r in base]
    keys = set.intersection(*(set(e) for e, _ in per))
    mean_errs = {k: float(np.mean([e[k] for e, _ in per])) for k in keys}
    return mean_errs, float(np.mean([c for _, c in per]))


def add_corruption_errors(df: pd.DataFrame, runs: list[Run]) -> pd.DataFrame:
    """``mce`` and ``relative_mce`` for every run with corruption records (NaN otherwise)."""
    statuses = dict(zip(df["run_id"], df["status"], strict=True)) if "run_id" in df else {}
    base = baseline_errors(runs, statuses)
    mce, rel = {}, {}
    for run in runs:
        errs, clean_err = _errors(run)
        if base is None or not errs or not math.isfinite(clean_err):
            continue
        per = measures.corruption_errors(errs, clean_err, base[0], base[1])
        mce[run.run_id] = measures.mean_corruption_error(per, "ce").value
        rel[run.run_id] = measures.mean_corruption_error(per, "relative_ce").value
    df["mce"] = df["run_id"].map(mce).astype(float)
    df["relative_mce"] = df["run_id"].map(rel).astype(float)
    return df
