"""Statistics of a sweep: per-alpha means with bootstrap CIs, rank correlations, linear fits.

The paper reports means with 95% confidence intervals across seeds and the Spearman
correlation (with p-value) of each robustness measure with alpha and with measured
selectivity. Every function drops NaN pairs first and returns NaN (never warns) when the data
cannot support the statistic (too few points, constant input). Trends use one point per run,
not per-alpha means, so n counts runs. No torch import.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from selrob.enums import RunStatus
from selrob.errors import InvalidArgument
from selrob.results import metric_columns

AGAINST = {"alpha": "alpha", "selectivity": "selectivity"}
NAN2 = (math.nan, math.nan)


def _pairs(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.shape != ya.shape:
        raise InvalidArgument(f"x and y differ in length ({xa.size} vs {ya.size}); pass pairs")
    keep = np.isfinite(xa) & np.isfinite(ya)
    return xa[keep], ya[keep]


def _constant(a: np.ndarray) -> bool:
    return a.size == 0 or bool(np.all(a == a[0]))


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman rank correlation and two-sided p-value; (nan, nan) if n < 3 or an input is constant."""
    xa, ya = _pairs(x, y)
    if xa.size < 3 or _constant(xa) or _constant(ya):
        return NAN2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sps.spearmanr(xa, ya)
    return float(res.statistic), float(res.pvalue)


def linear_fit(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares line y = slope * x + intercept and its R^2 (nan where undefined)."""
    xa, ya = _pairs(x, y)
    if xa.size < 2 or _constant(xa):
        return math.nan, math.nan, math.nan
    xc, yc = xa - xa.mean(), ya - ya.mean()
    slope = float(xc @ yc / (xc @ xc))
    intercept = float(ya.mean() - slope * xa.mean())
    ss_tot = float(yc @ yc)
    resid = ya - (slope * xa + intercept)
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else math.nan
    return slope, intercept, r2


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap CI of the mean: (mean, lo, hi). Deterministic given seed.

    NaNs are dropped; no value gives (nan, nan, nan); one value v gives (v, v, v).
    """
    if not 0 < level < 1:
        raise InvalidArgument(f"level must lie in (0, 1), got {level}; e.g. 0.95")
    if n_boot < 1:
        raise InvalidArgument(f"n_boot must be positive, got {n_boot}")
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size == 1 or _constant(v):
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return mean, float(min(lo, mean)), float(max(hi, mean))


def paired_difference(
    a: Sequence[float], b: Sequence[float], level: float = 0.95
) -> dict[str, float]:
    """Mean of a - b with a bootstrap CI and the Wilcoxon signed-rank p-value (two-sided)."""
    aa, bb = _pairs(a, b)
    d = aa - bb
    mean, lo, hi = bootstrap_ci(d, level=level)
    p = math.nan
    if d.size >= 3 and np.any(d != 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(sps.wilcoxon(d).pvalue)
    return {"mean": mean, "lo": lo, "hi": hi, "p": p, "n": int(d.size)}


def complete(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose status is "complete" (all rows when there is no status column)."""
    return df[df["status"] == RunStatus.COMPLETE] if "status" in df else df


def per_alpha_summary(
    df: pd.DataFrame, metric: str, by: str = "alpha", level: float = 0.95
) -> pd.DataFrame:
    """Per value of ``by``: mean of ``metric`` over complete runs, bootstrap CI, n (finite values)."""
    rows: list[dict[str, Any]] = []
    if metric in df and by in df:
        data = complete(df)
        for key, group in data.groupby(by, sort=True):
            vals = pd.to_numeric(group[metric], errors="coerce").to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            if vals.size:
                mean, lo, hi = bootstrap_ci(vals, level=level)
                rows.append({by: key, "mean": mean, "lo": lo, "hi": hi, "n": int(vals.size)})
    return pd.DataFrame(rows, columns=[by, "mean", "lo", "hi", "n"])


def trend(df: pd.DataFrame, metric: str, against: str = "alpha") -> dict[str, float]:
    """Spearman (rho, p) and linear fit (slope, intercept, r2) of metric vs alpha|selectivity.

    One point per complete run; ``n`` is the number of runs with both values finite.
    """
    if against not in AGAINST:
        raise InvalidArgument(f"against must be one of {sorted(AGAINST)}, got {against!r}")
    col = AGAINST[against]
    data = complete(df)
    if metric not in data or col not in data:
        x = y = np.array([], dtype=float)
    else:
        x, y = _pairs(pd.to_numeric(data[col], errors="coerce"), data[metric].astype(float))
    rho, p = spearman(x, y)
    slope, intercept, r2 = linear_fit(x, y)
    return {"rho": rho, "p": p, "slope": slope, "intercept": intercept, "r2": r2, "n": int(x.size)}


def all_trends(df: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`trend` of every metric (default: :func:`selrob.results.metric_columns`) vs both axes."""
    names = list(metrics) if metrics is not None else metric_columns(df)
    rows = []
    for metric in names:
        for against, col in AGAINST.items():
            if metric == col or (against == "selectivity" and "selectivity" in metric):
                continue
            rows.append({"metric": metric, "against": against, **trend(df, metric, against)})
    cols = ["metric", "against", "rho", "p", "slope", "intercept", "r2", "n"]
    return pd.DataFrame(rows, columns=cols)


def verdict(value: float, p: float, expected_sign: int, level: float = 0.05) -> str:
    """'reproduced' / 'not reproduced' / 'inconclusive (...)' for a signed statistic and its p."""
    if not (math.isfinite(value) and math.isfinite(p)):
        return "inconclusive (not enough data)"
    if p >= level:
        return f"inconclusive (p >= {level:g})"
    return "reproduced" if np.sign(value) == np.sign(expected_sign) else "not reproduced"
