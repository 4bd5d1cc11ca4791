"""The robustness measures against numpy and hand-worked cases (selrob.measures)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selrob import measures


def test_area_under_curve_is_numpy_trapezoid_over_the_span() -> None:
    eps = [0.0, 0.01, 0.02, 0.05, 0.1]
    acc = [0.9, 0.7, 0.5, 0.2, 0.0]
    want = np.trapezoid(acc, eps) / 0.1
    assert measures.area_under_curve(eps, acc).value == pytest.approx(want)
    rel = measures.area_under_curve(eps, acc, relative=True).value
    assert rel == pytest.approx(np.trapezoid(np.array(acc) / 0.9, eps) / 0.1)
    # unsorted input and a duplicated budget (averaged) give the same curve
    assert measures.area_under_curve(eps[::-1] + [0.1], acc[::-1] + [0.0]).value == pytest.approx(
        want
    )
    flat = measures.area_under_curve([0, 1, 3], [0.5, 0.5, 0.5])
    assert flat.value == pytest.approx(0.5)  # a flat curve's mean accuracy is its height


def test_eps50_hand_worked_cases() -> None:
    # clean 0.8, half 0.4: between eps 0.02 (0.5) and 0.05 (0.2): 0.02 + (0.5 - 0.4) / 0.3 * 0.03
    assert measures.eps50([0, 0.01, 0.02, 0.05], [0.8, 0.6, 0.5, 0.2]).value == pytest.approx(0.03)
    # landing exactly on half at a grid point
    assert measures.eps50([0, 1, 2], [1.0, 0.5, 0.1]).value == pytest.approx(1.0)
    # non-monotone: the first crossing counts, even if the curve recovers afterwards
    assert measures.eps50([0, 1, 2, 3], [1.0, 0.2, 0.8, 0.0]).value == pytest.approx(0.625)
    censored = measures.eps50([0, 1, 2], [0.9, 0.8, 0.6])
    assert censored.censored and math.isnan(censored.value) and "above half" in censored.why


def test_undefined_measures_say_why_instead_of_a_number() -> None:
    no_clean = measures.eps50([0.01, 0.02], [0.5, 0.2])
    assert not no_clean.ok and "no 0 (clean) point" in no_clean.why
    assert "no 0" in measures.area_under_curve([0.01, 0.02], [0.5, 0.2], relative=True).why
    assert measures.area_under_curve([0.01, 0.02], [0.5, 0.2]).ok  # absolute needs no clean point
    assert "fewer than 2" in measures.area_under_curve([0.0], [0.9]).why
    assert "clean accuracy is 0" in measures.eps50([0, 1], [0.0, 0.0]).why


def test_attack_measures_per_attack_and_norm() -> None:
    rows = [{"attack": "pgd", "norm": "linf", "epsilon": e, "accuracy": a, "n": 400}
            for e, a in ((0, 0.8), (0.01, 0.6), (0.02, 0.5), (0.05, 0.2))]  # fmt: skip
    rows += [{"attack": "fgsm", "norm": "linf", "epsilon": e, "accuracy": a, "n": 400}
             for e, a in ((0, 0.8), (0.05, 0.7))]  # fmt: skip
    out = {(m["attack"], m["norm"]): m for m in measures.attack_measures(rows)}
    pgd, fgsm = out[("pgd", "linf")], out[("fgsm", "linf")]
    assert pgd["clean"] == 0.8 and pgd["eps50"] == pytest.approx(0.03) and not pgd["eps50_censored"]
    assert pgd["relative"][2] == {"epsilon": 0.02, "relative_accuracy": pytest.approx(0.625)}
    assert pgd["auc_relative"] == pytest.approx(pgd["auc"] / 0.8)
    assert fgsm["eps50"] is None and fgsm["eps50_censored"] and "above half" in fgsm["why"]


def test_corruption_error_and_mce_from_the_definition() -> None:
    """Hand-computed: two corruptions x two severities, errors in [0, 1]."""
    net = {("fog", 1): 0.2, ("fog", 2): 0.4, ("snow", 1): 0.3, ("snow", 2): 0.5}
    base = {("fog", 1): 0.25, ("fog", 2): 0.35, ("snow", 1): 0.3, ("snow", 2): 0.6}
    per = measures.corruption_errors(net, 0.1, base, 0.05)
    # CE_fog = (0.2 + 0.4) / (0.25 + 0.35) = 1.0; CE_snow = 0.8 / 0.9
    assert per["fog"]["ce"] == pytest.approx(1.0) and per["snow"]["ce"] == pytest.approx(0.8 / 0.9)
    # relative: (0.1 + 0.3) / (0.2 + 0.3) = 0.8 and (0.2 + 0.4) / (0.25 + 0.55) = 0.75
    assert per["fog"]["relative_ce"] == pytest.approx(0.8)
    assert per["snow"]["relative_ce"] == pytest.approx(0.75)
    assert measures.mean_corruption_error(per).value == pytest.approx((1.0 + 0.8 / 0.9) / 2)
    assert measures.mean_corruption_error(per, "relative_ce").value == pytest.approx(0.775)
    assert "no baseline" in measures.mean_corruption_error({}).why
