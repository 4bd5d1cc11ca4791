"""One row of the findings table: a :class:`Finding`, and :func:`trend`, which computes the
statistics of one measure over a sweep's complete runs (see :mod:`selrob.report.claims` for
which measures each claim tests, and ``docs/method.md`` for the definitions)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from selrob.report import effects, stats

NAN = math.nan


ROLES = ("setup", "primary", "secondary")


@dataclass(frozen=True)
class Finding:
    """One test of one claim over ``n`` complete runs of ``n_images`` test images each."""

    claim: str
    role: str
    paper: str
    measure: str
    column: str
    test: str
    expected_sign: int
    value: float = NAN  # the verdict statistic
    p: float = NAN
    n: int = 0
    n_images: float = NAN
    rho_alpha: float = NAN
    p_alpha: float = NAN
    sel_rho: float = NAN
    sel_p: float = NAN
    partial_rho: float = NAN
    partial_p: float = NAN
    slope: float = NAN
    slope_lo: float = NAN
    slope_hi: float = NAN
    p_adj: float = NAN
    why: str = ""  # why the row cannot be tested, or why its CI is missing
    note: str = ""

    @property
    def verdict(self) -> str:
        if not (math.isfinite(self.value) and math.isfinite(self.p)):
            return f"not testable ({self.why or 'not enough data'})"
        return effects.effect_verdict(self.value, self.p_adj, self.expected_sign,
                                      (self.slope_lo, self.slope_hi))  # fmt: skip

    def sentence(self) -> str:
        """'<Measure>: <test> = +0.93 (p = 1e-04, Holm-adjusted 3e-04; n = 10 runs x 500 test
        images); ...; slope per unit selectivity ... -> reproduced.'"""
        measure = self.measure[:1].upper() + self.measure[1:]
        if not (math.isfinite(self.value) and math.isfinite(self.p)):
            return f"{measure}: {self.verdict}."
        parts = [f"{measure}: {self.test} = {fmt(self.value)} (p = {fmt_p(self.p)}, "
                 f"Holm-adjusted {fmt_p(self.p_adj)}; n = {self.n} runs x {fmt_n(self.n_images)} "
                 "test images)"]  # fmt: skip
        if math.isfinite(self.rho_alpha) and self.test != "Spearman rho vs alpha":
            parts.append(f"Spearman rho vs alpha {fmt(self.rho_alpha)}")
        if math.isfinite(self.sel_rho):
            parts.append(
                f"vs measured selectivity rho = {fmt(self.sel_rho)}, p = {fmt_p(self.sel_p)}"
            )
        if math.isfinite(self.slope):
            parts.append(f"slope per unit selectivity {self.slope:+.3g} [{_ci(self)}]")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts) + f" -> {self.verdict}."


def fmt(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:+.2f}"


def fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else (f"{p:.2g}" if p < 0.01 else f"{p:.2f}")


def fmt_n(n: float) -> str:
    return "?" if not math.isfinite(n) else f"{int(n)}"


def _ci(f: Finding) -> str:
    if math.isfinite(f.slope_lo) and math.isfinite(f.slope_hi):
        return f"{f.slope_lo:.3g}, {f.slope_hi:.3g}"
    return f.why or "no CI"


def has(df: pd.DataFrame, col: str) -> bool:
    return col in df and stats.complete(df)[col].notna().any()


def images_behind(df: pd.DataFrame, column: str) -> float:
    """The fewest test images behind ``column`` over the complete runs."""
    data = stats.complete(df)
    key = "n_test_images"
    if column.startswith(("corrupted", "corruption_drop", "mce", "relative_mce")):
        key = "n_corruption_images"
    elif column.startswith(("adv_", "advrel_", "auc_", "aucrel_", "eps50_")):
        attack, norm = column.split("_")[1:3]
        key = f"n_attack_images_{attack}_{norm}"
    elif column.startswith("dim_") or column == "_dim_diff_early":
        key = "n_dimensionality_images"
    elif column.startswith("grad_"):
        key = "n_gradient_images"
    vals = pd.to_numeric(data.get(key, pd.Series(dtype=float)), errors="coerce").dropna()
    return float(vals.min()) if len(vals) else NAN


def _why(df: pd.DataFrame, column: str) -> str:
    """Why ``column`` cannot be tested on these runs ("" when it can)."""
    data = stats.complete(df)
    if column in ("mce", "relative_mce") and not (data.get("alpha") == 0).any():
        return "no complete alpha = 0 run to serve as the mCE baseline"
    if (
        column.startswith(("advrel_", "aucrel_", "eps50_"))
        and not data.get(column, pd.Series(dtype=float)).notna().any()
    ):
        if (
            column.startswith("eps50_")
            and data.get(column.replace("eps50_", "eps50cens_"), pd.Series(dtype=float)).eq(1).all()
        ):
            return "censored: accuracy never fell to half its clean value on the grid"
        return "the epsilon grid has no 0 (clean) point"
    if not has(df, column):
        return "not measured"
    valid = data[data[column].notna()]
    if valid["alpha"].nunique() < 2:
        return "one alpha only: no trend to test"
    if len(valid) < 4:
        return "fewer than 4 runs"
    return ""


def trend(claim: str, role: str, paper: str, df: pd.DataFrame, column: str, measure: str, sign: int,
           *, partial: bool = True, note: str = "") -> Finding:  # fmt: skip
    """Spearman vs alpha and selectivity, partial Spearman | clean accuracy, slope CI."""
    test = "partial Spearman rho vs alpha | clean accuracy" if partial else "Spearman rho vs alpha"
    base = Finding(claim, role, paper, measure, column, test, sign,
                   n_images=images_behind(df, column), note=note)  # fmt: skip
    why = _why(df, column)
    if why:
        return replace(base, why=why)
    data = stats.complete(df)
    data = data[data[column].notna()]
    y = data[column].astype(float)
    a = stats.trend(data, column, "alpha")
    s = (
        stats.trend(data, column, "selectivity")
        if "selectivity" not in column
        else {"rho": NAN, "p": NAN}
    )
    clean = clean_column(data)
    pr, pp, _ = (
        effects.partial_spearman(data["alpha"], y, data[clean]) if partial else (NAN, NAN, 0)
    )
    x_slope = data["alpha"] if column == "selectivity" else data["selectivity"]
    slope, lo, hi, ci_why = effects.bootstrap_slope(x_slope, y, data["alpha"])
    value, p = (pr, pp) if partial else (a["rho"], a["p"])
    why = ""
    if not math.isfinite(value):
        why = (f"fewer than {effects.MIN_PARTIAL_N} runs for a correlation with clean accuracy "
               "held fixed" if partial and len(data) < effects.MIN_PARTIAL_N
               else "the statistic is undefined (constant values)")  # fmt: skip
    return replace(base, value=value, p=p, n=int(len(data)), rho_alpha=a["rho"], p_alpha=a["p"],
                   sel_rho=s["rho"], sel_p=s["p"], partial_rho=pr, partial_p=pp, slope=slope,
                   slope_lo=lo, slope_hi=hi, why=why or ci_why)  # fmt: skip


def clean_column(df: pd.DataFrame) -> str:
    return "clean_accuracy" if has(df, "clean_accuracy") else "test_accuracy"
