"""Robustness measures that separate robustness from clean accuracy (numpy only, no torch).

A network that is less accurate on clean data is also less accurate under attack and under
corruption, so raw accuracies mix two things. These measures take the curves a run records
and return numbers that do not move with clean accuracy alone (definitions in
``docs/method.md``):

- attacks, per (attack, norm): accuracy relative to clean, ``acc(eps) / acc(0)``; the area
  under the accuracy-vs-epsilon curve over the grid (trapezoid rule, divided by the grid's
  span: the mean accuracy over the budget range), absolute and relative to clean; and
  ``eps50``, the budget at which accuracy falls to half its clean value (linear interpolation
  between grid points; *censored* when it never falls that far on the grid);
- corruptions: the corruption error of Hendrycks & Dietterich (2019): per corruption, the
  errors summed over severities divided by a baseline's, and its relative form, which
  subtracts each network's clean error first.

Used at evaluation time (stored in ``metrics.json``) and by the results tables; every function
returns a reason instead of a number when the measure is undefined, never a NaN to show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Value:
    """A measure's value, or why it could not be computed (``value`` is then NaN)."""

    value: float
    why: str = ""
    censored: bool = False  # eps50: the curve stayed above half its clean value on the grid

    @property
    def ok(self) -> bool:
        return math.isfinite(self.value)


def missing(why: str) -> Value:
    return Value(math.nan, why)


def _curve(eps: Sequence[float], acc: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The curve sorted by epsilon, duplicates averaged, non-finite points dropped."""
    e, a = np.asarray(eps, dtype=float), np.asarray(acc, dtype=float)
    keep = np.isfinite(e) & np.isfinite(a)
    e, a = e[keep], a[keep]
    grid = np.unique(e)
    return grid, np.array([a[e == g].mean() for g in grid])


def clean_of(eps: Sequence[float], acc: Sequence[float]) -> Value:
    """Accuracy at epsilon 0 of a curve."""
    e, a = _curve(eps, acc)
    if e.size == 0 or e[0] != 0:
        return missing("the epsilon grid has no 0 (clean) point")
    return Value(float(a[0]))


def area_under_curve(
    eps: Sequence[float], acc: Sequence[float], *, relative: bool = False
) -> Value:
    """Trapezoid area under accuracy vs epsilon divided by the grid's span (a mean accuracy).

    ``relative``: of ``acc / acc(0)`` instead (needs a clean point with accuracy > 0).
    """
    e, a = _curve(eps, acc)
    if e.size < 2:
        return missing("the epsilon grid has fewer than 2 points")
    if relative:
        clean = clean_of(e, a)
        if not clean.ok:
            return clean
        if clean.value <= 0:
            return missing("clean accuracy is 0")
        a = a / clean.value
    return Value(float(np.trapezoid(a, e) / (e[-1] - e[0])))


def eps50(eps: Sequence[float], acc: Sequence[float]) -> Value:
    """The smallest budget at which accuracy has fallen to half its clean value.

    Linear interpolation between the last grid point above half and the first at or below
    it (the first crossing, so a non-monotone curve that dips and recovers counts its dip).
    Censored (``censored=True``, value NaN) when the curve never reaches half on the grid.
    """
    e, a = _curve(eps, acc)
    clean = clean_of(e, a)
    if not clean.ok:
        return clean
    if clean.value <= 0:
        return missing("clean accuracy is 0")
    half = clean.value / 2
    below = np.nonzero(a <= half)[0]
    if below.size == 0:
        return Value(math.nan, f"accuracy stays above half its clean value up to eps {e[-1]:g}",
                     censored=True)  # fmt: skip
    i = int(below[0])
    e0, e1, a0, a1 = e[i - 1], e[i], a[i - 1], a[i]
    return Value(float(e0 + (a0 - half) / (a0 - a1) * (e1 - e0)))


def attack_measures(records: Sequence[Mapping]) -> list[dict]:
    """Per (attack, norm) of tidy attack records ``{attack, norm, epsilon, accuracy, n}``:
    ``{attack, norm, n, clean, auc, auc_relative, eps50, eps50_censored, relative, why}`` with
    ``relative`` a list of ``{epsilon, relative_accuracy}`` and ``why`` naming what is undefined.
    """
    groups: dict[tuple[str, str], list[Mapping]] = {}
    for r in records:
        groups.setdefault((str(r["attack"]), str(r["norm"])), []).append(r)
    out = []
    for (attack, norm), rows in groups.items():
        eps = [float(r["epsilon"]) for r in rows]
        acc = [float(r["accuracy"]) for r in rows]
        clean, auc, rel = (
            clean_of(eps, acc),
            area_under_curve(eps, acc),
            area_under_curve(eps, acc, relative=True),
        )
        e50 = eps50(eps, acc)
        grid, curve = _curve(eps, acc)
        relative = [{"epsilon": float(g), "relative_accuracy": float(c / clean.value)}
                    for g, c in zip(grid, curve, strict=True)] if clean.ok and clean.value > 0 else []  # fmt: skip
        whys = sorted({v.why for v in (clean, auc, rel, e50) if v.why})
        out.append({"attack": attack, "norm": norm, "n": int(min(int(r.get("n", 0)) for r in rows)),
                    "clean": _num(clean), "auc": _num(auc), "auc_relative": _num(rel),
                    "eps50": _num(e50), "eps50_censored": e50.censored, "relative": relative,
                    "why": "; ".join(whys)})  # fmt: skip
    return out


def _num(v: Value) -> float | None:
    return v.value if v.ok else None


def corruption_errors(
    errors: Mapping[tuple[str, int], float],
    clean_error: float,
    baseline: Mapping[tuple[str, int], float],
    baseline_clean_error: float,
) -> dict[str, dict[str, float]]:
    """Corruption error per corruption (Hendrycks & Dietterich 2019), against a baseline.

    ``errors``: ``{(corruption, severity): top-1 error}`` of the network; ``baseline``: the same
    for the baseline network (selrob: the sweep's alpha = 0 runs, mean over seeds).
    Per corruption c over the severities both measured:
    ``CE_c = sum_s E_{s,c} / sum_s E^base_{s,c}`` and
    ``relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)``.
    Returns ``{c: {"ce", "relative_ce"}}`` (NaN where a denominator is 0).
    """
    out: dict[str, dict[str, float]] = {}
    for c in sorted({c for c, _ in errors}):
        sevs = [s for cc, s in errors if cc == c and (c, s) in baseline]
        if not sevs:
            continue
        num = sum(errors[(c, s)] for s in sevs)
        den = sum(baseline[(c, s)] for s in sevs)
        rnum = sum(errors[(c, s)] - clean_error for s in sevs)
        rden = sum(baseline[(c, s)] - baseline_clean_error for s in sevs)
        out[c] = {"ce": num / den if den > 0 else math.nan,
                  "relative_ce": rnum / rden if rden > 0 else math.nan}  # fmt: skip
    return out


def mean_corruption_error(
    per_corruption: Mapping[str, Mapping[str, float]], key: str = "ce"
) -> Value:
    """mCE (``key="ce"``) or relative mCE (``"relative_ce"``): the mean over corruptions."""
    vals = [v[key] for v in per_corruption.values() if math.isfinite(v[key])]
    if not vals:
        return missing(
            "no corruption error could be computed (no baseline run with these corruptions)"
        )
    return Value(float(np.mean(vals)))
