"""selrob.report.stats against independent oracles (hand ranks, polyfit, normal approximation)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers.fake_runs import write_fake_runs
from scipy import stats as sps

from selrob import results
from selrob.errors import InvalidArgument
from selrob.report import stats


def _average_ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of their positions (by hand)."""
    order = np.argsort(a, kind="stable")
    ranks = np.empty(a.size)
    ranks[order] = np.arange(1, a.size + 1)
    for v in np.unique(a):
        tie = a == v
        ranks[tie] = ranks[tie].mean()
    return ranks


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("runs")
    write_fake_runs(root, (-10.0, -1.0, 0.0, 1.0, 10.0), (0, 1))
    return results.load_runs(root)


def test_spearman_matches_hand_ranks_and_t_approximation() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, size=25).astype(float)  # with ties
    y = x + rng.normal(0, 2, size=25)
    rho, p = stats.spearman(x, y)
    expected = np.corrcoef(_average_ranks(x), _average_ranks(y))[0, 1]
    assert rho == pytest.approx(expected, abs=1e-12)
    t = expected * math.sqrt((x.size - 2) / (1 - expected**2))
    assert p == pytest.approx(2 * sps.t.sf(abs(t), x.size - 2), rel=1e-9)
    assert stats.spearman([1, 2, 3, 4], [8, 6, 4, 1])[0] == pytest.approx(-1.0)


def test_spearman_degenerate_inputs_give_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(math.isnan(v) for v in stats.spearman([1, 2, 3, 4], [5, 5, 5, 5]))
        assert all(math.isnan(v) for v in stats.spearman([1, 2], [3, 4]))
        assert all(math.isnan(v) for v in stats.spearman([], []))
    x, y = [1, 2, np.nan, 4, 5], [2, 1, 7, 4, np.nan]
    assert stats.spearman(x, y) == stats.spearman([1, 2, 4], [2, 1, 4])
    with pytest.raises(InvalidArgument):
        stats.spearman([1, 2, 3], [1, 2])


def test_linear_fit_matches_polyfit() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = 2.5 * x - 1.0 + rng.normal(0, 0.5, size=40)
    slope, intercept, r2 = stats.linear_fit(x, y)
    ps, pi = np.polyfit(x, y, 1)
    assert (slope, intercept) == pytest.approx((ps, pi), rel=1e-9)
    resid = y - np.polyval([ps, pi], x)
    assert r2 == pytest.approx(1 - resid @ resid / np.sum((y - y.mean()) ** 2))
    assert stats.linear_fit([0, 1, 2], [1, 3, 5]) == pytest.approx((2.0, 1.0, 1.0))
    assert all(math.isnan(v) for v in stats.linear_fit([1, 1, 1], [1, 2, 3]))


def test_bootstrap_ci_contains_mean_shrinks_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.normal(5, 2, size=10), rng.normal(5, 2, size=1000)
    m, lo, hi = stats.bootstrap_ci(small)
    assert lo < m < hi and m == pytest.approx(small.mean())
    _, lo2, hi2 = stats.bootstrap_ci(large)
    assert hi2 - lo2 < (hi - lo) / 3
    # oracle: for large n the percentile bootstrap approaches mean +- 1.96 sd / sqrt(n)
    half = 1.96 * large.std(ddof=1) / math.sqrt(large.size)
    assert (hi2 - lo2) / 2 == pytest.approx(half, rel=0.15)
    assert stats.bootstrap_ci(small, seed=7) == stats.bootstrap_ci(small, seed=7)
    assert stats.bootstrap_ci(small, seed=7) != stats.bootstrap_ci(small, seed=8)
    _, lo90, hi90 = stats.bootstrap_ci(small, level=0.9)
    assert hi90 - lo90 < hi - lo


def test_bootstrap_ci_edge_cases() -> None:
    assert stats.bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)
    assert stats.bootstrap_ci([0.7, np.nan]) == (0.7, 0.7, 0.7)
    assert stats.bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert all(math.isnan(v) for v in stats.bootstrap_ci([]))
    with pytest.raises(InvalidArgument):
        stats.bootstrap_ci([1, 2], level=95)


def test_paired_difference_exact_wilcoxon() -> None:
    a = np.arange(10, dtype=float) + 3.0
    b = np.arange(10, dtype=float)
    b[::2] += 0.5  # every difference positive, distinct magnitudes
    d = stats.paired_difference(a, b)
    assert d["mean"] == pytest.approx(np.mean(a - b))
    assert d["p"] == pytest.approx(2 / 2**10)  # exact two-sided: all ranks on one side
    assert d["n"] == 10


def test_per_alpha_summary_matches_groupby(runs: pd.DataFrame) -> None:
    s = stats.per_alpha_summary(runs, "corrupted_accuracy")
    done = runs[runs["status"] == "complete"]
    expected = done.groupby("alpha")["corrupted_accuracy"].agg(["mean", "count"])
    assert list(s["alpha"]) == list(expected.index)
    assert np.allclose(s["mean"], expected["mean"])
    assert list(s["n"]) == list(expected["count"])  # the failed run is not counted
    assert ((s["lo"] <= s["mean"]) & (s["mean"] <= s["hi"])).all()
    assert stats.per_alpha_summary(runs, "no_such_metric").empty


def test_trend_recovers_built_in_trends(runs: pd.DataFrame) -> None:
    t = stats.trend(runs, "selectivity", "alpha")
    assert t["rho"] > 0.9 and t["p"] < 0.01 and t["n"] == 10
    t = stats.trend(runs, "corrupted_accuracy", "selectivity")
    assert t["rho"] < -0.9 and t["slope"] < 0
    done = runs[runs["status"] == "complete"]
    slope, intercept = np.polyfit(done["alpha"], done["adv_pgd_linf_0.007843"], 1)
    t = stats.trend(runs, "adv_pgd_linf_0.007843", "alpha")
    assert (t["slope"], t["intercept"]) == pytest.approx((slope, intercept))
    with pytest.raises(InvalidArgument):
        stats.trend(runs, "selectivity", "depth")


def test_all_trends_covers_metrics_both_ways(runs: pd.DataFrame) -> None:
    table = stats.all_trends(runs)
    pairs = set(zip(table["metric"], table["against"], strict=True))
    assert ("corrupted_accuracy", "alpha") in pairs
    assert ("corrupted_accuracy", "selectivity") in pairs
    assert ("grad_across_units_mean", "selectivity") in pairs
    assert ("selectivity", "selectivity") not in pairs
    row = table[(table["metric"] == "corruption_drop") & (table["against"] == "alpha")].iloc[0]
    assert row["rho"] == pytest.approx(stats.trend(runs, "corruption_drop")["rho"])


@pytest.mark.parametrize(
    ("value", "p", "sign", "expected"),
    [
        (0.8, 0.001, +1, "reproduced"),
        (-0.8, 0.001, +1, "not reproduced"),
        (-0.8, 0.001, -1, "reproduced"),
        (0.8, 0.2, +1, "inconclusive (p >= 0.05)"),
        (math.nan, math.nan, +1, "inconclusive (not enough data)"),
    ],
)
def test_verdict(value: float, p: float, sign: int, expected: str) -> None:
    assert stats.verdict(value, p, sign) == expected
