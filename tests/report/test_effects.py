"""Partial Spearman, the stratified bootstrap slope, Holm and the verdicts, against oracles
computed here (rank residuals by least squares, a hand-worked Holm table, known slopes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from selrob.report import effects


def _rank_residual_correlation(x, y, z) -> float:  # noqa: ANN001 - the oracle, written out
    rx, ry, rz = (sps.rankdata(v) for v in (x, y, z))
    design = np.column_stack([np.ones(len(rz)), rz])
    ex = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    ey = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    return float(np.corrcoef(ex, ey)[0, 1])


def test_partial_spearman_equals_the_correlation_of_rank_residuals() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=40)
    x = z + 0.5 * rng.normal(size=40)
    y = -z + 0.8 * x + rng.normal(size=40)
    rho, p, n = effects.partial_spearman(x, y, z)
    assert rho == pytest.approx(_rank_residual_correlation(x, y, z), abs=1e-12) and n == 40
    # the closed form on Spearman coefficients agrees, and p follows t with n - 3 dof
    r = lambda a, b: sps.spearmanr(a, b).statistic  # noqa: E731
    closed = (r(x, y) - r(x, z) * r(y, z)) / math.sqrt((1 - r(x, z) ** 2) * (1 - r(y, z) ** 2))
    assert rho == pytest.approx(closed, abs=1e-12)
    t = rho * math.sqrt(37 / (1 - rho**2))
    assert p == pytest.approx(2 * sps.t.sf(abs(t), 37))


def test_partial_spearman_removes_a_confound_and_handles_degenerate_input() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=60)
    x, y = z + 0.3 * rng.normal(size=60), z + 0.3 * rng.normal(size=60)  # related only via z
    assert sps.spearmanr(x, y).statistic > 0.8
    assert abs(effects.partial_spearman(x, y, z)[0]) < 0.3
    rho, p, n = effects.partial_spearman([1, 2, 3], [3, 1, 2], [1, 1, 2])
    assert math.isnan(rho) and math.isnan(p) and n == 3  # fewer than MIN_PARTIAL_N rows
    rows = effects.partial_spearman([1, 2, 3, 4, 5, 6, math.nan], [1, 3, 2, 4, 6, 5, 9],
                                    [0, 1, 0, 1, 0, 1, 0])  # fmt: skip
    assert rows[2] == 6 and math.isfinite(rows[0])  # the incomplete row is dropped
    assert math.isnan(
        effects.partial_spearman([1, 2, 3, 4, 5], [1, 2, 3, 5, 4], [1, 1, 2, 2, 3])[0]
    )


def test_holm_against_a_hand_worked_table() -> None:
    # p sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> 0.06)
    assert effects.holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert effects.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    out = effects.holm([0.01, math.nan, 0.04])  # NaN is not a test: m = 2
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)


def test_bootstrap_slope_ci_covers_a_known_slope() -> None:
    """Synthetic sweeps (5 alphas x 4 seeds): the 95% CI holds the true slope about 95% of the time."""
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(5), 4).astype(float)
    hits, trials = 0, 200
    for _ in range(trials):
        x = groups * 0.1 + 0.05 * rng.normal(size=20)  # measured selectivity, noisy per seed
        y = 2.0 * x + 0.1 * rng.normal(size=20)
        slope, lo, hi, why = effects.bootstrap_slope(
            x, y, groups, n_boot=400, seed=int(rng.integers(1 << 30))
        )
        assert lo <= slope <= hi and not why
        hits += lo <= 2.0 <= hi
    assert 0.85 <= hits / trials <= 0.99, hits


def test_bootstrap_slope_without_replicates_says_why() -> None:
    slope, lo, hi, why = effects.bootstrap_slope([0.1, 0.2, 0.3], [1.0, 2.0, 2.9], [0, 1, 2])
    assert slope == pytest.approx(9.5) and math.isnan(lo) and math.isnan(hi) and "2 seeds" in why
    assert "does not vary" in effects.bootstrap_slope([1, 1, 1, 1], [1, 2, 3, 4], [0, 0, 1, 1])[3]


@pytest.mark.parametrize(
    ("value", "p_adj", "sign", "ci", "expected"),
    [
        (0.8, 0.001, +1, (0.1, 0.3), "reproduced"),
        (-0.8, 0.001, +1, (-0.3, -0.1), "opposite"),
        (0.2, 0.4, +1, (-0.05, 0.12), "no effect detected (slope CI [-0.05, 0.12])"),
        (0.2, 0.4, +1, (math.nan, math.nan), "no effect detected"),
        (math.nan, 0.01, +1, (0.0, 1.0), "not testable"),
    ],
)
def test_effect_verdict(value: float, p_adj: float, sign: int, ci: tuple, expected: str) -> None:
    assert effects.effect_verdict(value, p_adj, sign, ci) == expected
