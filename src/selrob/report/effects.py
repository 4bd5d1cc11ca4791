"""Statistics that let a finding hold up: a rank correlation with a covariate partialled out,
an effect size with a confidence interval, a correction for testing many rows, and verdicts.

- :func:`partial_spearman`: the Spearman correlation of x and y with z held fixed: rank all
  three, regress the ranks of x and of y on the ranks of z, correlate the residuals (Pearson);
  p from the t distribution with n - 3 degrees of freedom. With z = clean accuracy, a measure
  cannot correlate with alpha merely because clean accuracy does.
- :func:`bootstrap_slope`: the least-squares slope of y on x over runs, with a 95% percentile
  bootstrap CI that resamples runs *within each group* (the seeds of one alpha), so every
  resample keeps the sweep's alpha grid.
- :func:`holm`: Holm's step-down adjustment of a family of p-values.
- :func:`effect_verdict`: *reproduced*, *opposite*, or *no effect detected* (with the slope's
  CI, so a reader sees how large an effect the run could have missed).

``docs/method.md`` states which test each claim uses. No torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from selrob.errors import InvalidArgument

LEVEL = 0.05
MIN_PARTIAL_N = 6  # rows needed for a partial correlation's test (3 degrees of freedom)


def _finite_rows(*cols: Sequence[float]) -> list[np.ndarray]:
    arrays = [np.asarray(c, dtype=float).ravel() for c in cols]
    if len({a.size for a in arrays}) > 1:
        raise InvalidArgument("columns differ in length; pass one value per run in each")
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return [a[keep] for a in arrays]


def _residuals(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones_like(z), z])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return y - design @ coef


def partial_spearman(
    x: Sequence[float], y: Sequence[float], z: Sequence[float]
) -> tuple[float, float, int]:
    """``(rho, p, n)``: Spearman of x and y controlling for z; (nan, nan, n) when undefined:
    fewer than :data:`MIN_PARTIAL_N` complete rows (the t test has n - 3 degrees of freedom),
    or x or y constant once z is partialled out."""
    xa, ya, za = _finite_rows(x, y, z)
    n = int(xa.size)
    if n < MIN_PARTIAL_N:
        return math.nan, math.nan, n
    rx, ry, rz = (sps.rankdata(a) for a in (xa, ya, za))
    ex, ey = _residuals(rx, rz), _residuals(ry, rz)
    sx, sy = float(np.sqrt(ex @ ex)), float(np.sqrt(ey @ ey))
    if sx < 1e-9 * n or sy < 1e-9 * n:
        return math.nan, math.nan, n
    rho = float(np.clip(ex @ ey / (sx * sy), -1.0, 1.0))
    if abs(rho) == 1.0:
        return rho, 0.0, n
    t = rho * math.sqrt((n - 3) / (1 - rho**2))
    return rho, float(2 * sps.t.sf(abs(t), n - 3)), n


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - x.mean()
    den = float(xc @ xc)
    return float(xc @ (y - y.mean()) / den) if den > 0 else math.nan


def bootstrap_slope(
    x: Sequence[float],
    y: Sequence[float],
    groups: Sequence[float],
    *,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float, str]:
    """``(slope, lo, hi, why)``: OLS slope of y on x, and its percentile bootstrap CI resampling
    runs within each group (with replacement, the group's own size). ``why`` says why the CI is
    undefined (NaN bounds): fewer than 2 runs in every group, or a constant x."""
    xa, ya, ga = _finite_rows(x, y, groups)
    slope = _slope(xa, ya) if xa.size >= 2 else math.nan
    if not math.isfinite(slope):
        return math.nan, math.nan, math.nan, "measured selectivity does not vary across runs"
    members = [np.nonzero(ga == g)[0] for g in np.unique(ga)]
    if all(m.size < 2 for m in members):
        return slope, math.nan, math.nan, "fewer than 2 seeds per alpha: no CI"
    rng = np.random.default_rng(seed)
    slopes = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([m[rng.integers(0, m.size, m.size)] for m in members])
        slopes[b] = _slope(xa[idx], ya[idx])
    slopes = slopes[np.isfinite(slopes)]
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(slopes, [tail, 100 - tail])
    return slope, float(lo), float(hi), ""


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order; NaN entries stay NaN and are not counted."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    idx = np.nonzero(np.isfinite(p))[0]
    order = idx[np.argsort(p[idx], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def effect_verdict(
    value: float, p_adjusted: float, expected_sign: int, slope_ci: tuple[float, float] = (math.nan, math.nan),
    level: float = LEVEL,
) -> str:  # fmt: skip
    """*reproduced* / *opposite* (adjusted p < ``level``, sign as claimed / reversed), else
    *no effect detected* with the slope's CI when there is one."""
    if not (math.isfinite(value) and math.isfinite(p_adjusted)):
        return "not testable"
    if p_adjusted < level and value != 0:
        return "reproduced" if np.sign(value) == np.sign(expected_sign) else "opposite"
    lo, hi = slope_ci
    if math.isfinite(lo) and math.isfinite(hi):
        return f"no effect detected (slope CI [{lo:.3g}, {hi:.3g}])"
    return "no effect detected"
