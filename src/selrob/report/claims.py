"""The paper's claims as statistical tests on a sweep, shared by figure captions and the report.

Each :class:`Finding` is one test: a Spearman correlation over runs (primary: against alpha,
the manipulated variable; the correlation with measured selectivity is reported alongside) or,
for "adversarial changes early layers more than corruptions do", a paired Wilcoxon test.
The expected signs restate the paper's claims 1-4 (``docs/method.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from selrob.report import stats
from selrob.results import attack_columns, mid_epsilon_column

PAPER = {
    "selectivity": "alpha < 0 lowers class selectivity and alpha > 0 raises it "
    "(the regulariser works)",
    "accuracy": "lowering selectivity costs little or no clean accuracy; "
    "raising it (alpha > 0) lowers accuracy",
    "1": "lower selectivity -> more robust to corruptions "
    "(corrupted accuracy falls and the clean-minus-corrupted drop grows as alpha rises)",
    "2": "higher selectivity -> more robust to white-box attacks "
    "(accuracy under FGSM/PGD rises with alpha)",
    "3": "early-layer dimensionality is inversely related to selectivity; adversarial inputs "
    "raise early-layer dimensionality more than corruptions do, more so at low selectivity",
    "4": "input-unit gradients vary more across samples and across units "
    "in high-selectivity networks",
}
NORM_LABEL = {"linf": "L-inf", "l2": "L2"}
CLAIM_LABEL = {"selectivity": "setup", "accuracy": "setup", "1": "1", "2": "2", "3": "3", "4": "4"}


@dataclass(frozen=True)
class Finding:
    """One test of one claim: statistic ``value`` with two-sided ``p`` over ``n`` runs."""

    claim: str
    paper: str
    measure: str
    test: str
    value: float
    p: float
    n: int
    expected_sign: int
    sel_rho: float = math.nan
    sel_p: float = math.nan
    note: str = ""

    @property
    def verdict(self) -> str:
        return stats.verdict(self.value, self.p, self.expected_sign)

    @property
    def also(self) -> str:
        """The correlation with measured selectivity and/or the note, as one phrase."""
        parts = [self.note] if self.note else []
        if math.isfinite(self.sel_rho):
            parts.append(f"vs measured selectivity rho = {fmt(self.sel_rho)}, "
                         f"p = {fmt_p(self.sel_p)}")  # fmt: skip
        return "; ".join(parts)

    def sentence(self) -> str:
        """'<measure>: <test> = +0.93 (p = 1e-04, n = 10 runs) -> reproduced.'"""
        extra = f"; {self.also}" if self.also else ""
        measure = self.measure[:1].upper() + self.measure[1:]
        return (f"{measure}: {self.test} = {fmt(self.value)} (p = {fmt_p(self.p)}, "
                f"n = {self.n} runs{extra}) -> {self.verdict}.")  # fmt: skip


def fmt(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:+.2f}"


def fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else (f"{p:.2g}" if p < 0.01 else f"{p:.2f}")


def _spearman(claim: str, data: pd.DataFrame, metric: str, measure: str, sign: int) -> Finding:
    """Spearman of ``metric`` vs alpha (the verdict) and vs measured selectivity (reported)."""
    t = stats.trend(data, metric, "alpha")
    s = {"rho": math.nan, "p": math.nan}
    if "selectivity" not in metric:
        s = stats.trend(data, metric, "selectivity")
    return Finding(CLAIM_LABEL[claim], PAPER[claim], measure, "Spearman rho vs alpha",
                   t["rho"], t["p"], t["n"], sign, s["rho"], s["p"])  # fmt: skip


def _has(df: pd.DataFrame, col: str) -> bool:
    return col in df and stats.complete(df)[col].notna().any()


def _selectivity(df: pd.DataFrame) -> list[Finding]:
    return [_spearman("selectivity", df, "selectivity", "mean class selectivity", +1)]


def _accuracy(df: pd.DataFrame) -> list[Finding]:
    col = "clean_accuracy" if _has(df, "clean_accuracy") else "test_accuracy"
    data = df[df["alpha"] >= 0]
    return [_spearman("accuracy", data, col, "clean accuracy (runs with alpha >= 0)", -1)]


def _claim1(df: pd.DataFrame) -> list[Finding]:
    return [
        _spearman("1", df, "corrupted_accuracy", "mean corrupted accuracy", -1),
        _spearman("1", df, "corruption_drop", "clean-minus-corrupted drop", +1),
    ]


def _claim2(df: pd.DataFrame) -> list[Finding]:
    out = []
    cols = attack_columns(df)
    for (attack, norm), _ in cols.groupby(["attack", "norm"], sort=True):
        col = mid_epsilon_column(df, attack, norm)
        if col and _has(df, col):
            eps = float(cols.loc[cols["column"] == col, "epsilon"].iloc[0])
            label = f"{attack_label(attack, norm)} accuracy at eps = {eps_label(eps, norm)}"
            out.append(_spearman("2", df, col, label, +1))
    return out


def dim_measure(df: pd.DataFrame) -> str:
    """pca95 when measured, else participation_ratio."""
    return "pca95" if _has(df, "dim_clean_pca95_early") else "participation_ratio"


def _claim3(df: pd.DataFrame) -> list[Finding]:
    m = dim_measure(df)
    out = [
        _spearman("3", df, f"dim_clean_{m}_early", f"early-layer clean dimensionality ({m})", -1)
    ]
    adv, cor = f"dim_change_adversarial_{m}_early", f"dim_change_corrupted_{m}_early"
    if _has(df, adv) and _has(df, cor):
        data = stats.complete(df)
        d = stats.paired_difference(data[adv], data[cor])
        out.append(Finding("3", PAPER["3"], f"early-layer change dimensionality ({m}), "
                           "adversarial minus corrupted", "mean difference (Wilcoxon)",
                           d["mean"], d["p"], d["n"], +1,
                           note=f"95% CI [{d['lo']:.2f}, {d['hi']:.2f}]"))  # fmt: skip
        diff = data.assign(_diff=data[adv] - data[cor])
        out.append(_spearman("3", diff, "_diff", "that difference (more at low selectivity)", -1))
    return out


def gradient_statistics(df: pd.DataFrame) -> list[str]:
    """Gradient statistics present as ``grad_<statistic>_mean`` columns (across-samples first)."""
    found = [
        c[len("grad_") : -len("_mean")]
        for c in df.columns
        if c.startswith("grad_") and c.endswith("_mean")
    ]
    return sorted(found, key=lambda s: (not s.startswith("across_samples"), s))


def _claim4(df: pd.DataFrame) -> list[Finding]:
    return [
        _spearman("4", df, f"grad_{s}_mean", f"gradient variability {s.replace('_', ' ')}", +1)
        for s in gradient_statistics(df)
    ]


def attack_label(attack: str, norm: str) -> str:
    """'PGD L-inf', 'FGSM L2'."""
    return f"{attack.upper()} {NORM_LABEL.get(norm, norm)}"


def eps_label(eps: float, norm: str) -> str:
    """Budget as the paper writes it: '2/255' for L-inf grid points, else 3 significant digits."""
    k = eps * 255
    if norm == "linf" and abs(k - round(k * 2) / 2) < 1e-3:
        return f"{round(k * 2) / 2:g}/255"
    return f"{eps:.3g}"


FINDERS: dict[str, Callable[[pd.DataFrame], list[Finding]]] = {
    "selectivity": _selectivity, "accuracy": _accuracy,
    "1": _claim1, "2": _claim2, "3": _claim3, "4": _claim4,
}  # fmt: skip


def _measured(df: pd.DataFrame, key: str) -> bool:
    needs = {
        "selectivity": ["selectivity"],
        "accuracy": ["clean_accuracy", "test_accuracy"],
        "1": ["corrupted_accuracy"],
        "2": list(attack_columns(df)["column"]),
        "3": [f"dim_clean_{dim_measure(df)}_early"],
        "4": [f"grad_{s}_mean" for s in gradient_statistics(df)],
    }[key]
    return "alpha" in df and any(_has(df, c) for c in needs)


def findings(df: pd.DataFrame, key: str) -> list[Finding]:
    """The tests of one claim ("selectivity", "accuracy", "1".."4"); [] when not measured."""
    return FINDERS[key](df) if _measured(df, key) else []


def caption(
    number: int, title: str, key: str, df: pd.DataFrame, note: str = "", pick: slice | None = None
) -> str:
    """'Figure N. Title. <note> Paper: <claim>. Measured: <tests and verdicts>'.

    ``pick`` selects some of the claim's tests (e.g. figure 5 shows only the first of claim 3).
    """
    tests = findings(df, key)[pick or slice(None)]
    measured = " ".join(f.sentence() for f in tests) or "no test possible (metric not measured)."
    note = f" {note}" if note else ""
    return f"Figure {number}. {title}.{note} Paper: {PAPER[key]}. Measured: {measured}"


def all_findings(df: pd.DataFrame) -> list[Finding]:
    """Every claim's tests in order (setup checks first, then claims 1-4)."""
    return [f for key in FINDERS for f in findings(df, key)]


def findings_table(df: pd.DataFrame) -> pd.DataFrame:
    """The findings as a DataFrame: claim, paper, measure, test, value, p, n, verdict,
    sel_rho, sel_p (Spearman vs measured selectivity), note."""
    cols = ["claim", "paper", "measure", "test", "value", "p", "n", "verdict", "sel_rho", "sel_p",
            "note"]  # fmt: skip
    rows = [{c: getattr(f, c) for c in cols} for f in all_findings(df)]
    return pd.DataFrame(rows, columns=cols)
