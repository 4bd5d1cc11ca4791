"""The paper's claims as statistical tests on a sweep, shared by figure captions and the report.

Each claim has one *primary* measure (the one closest to the paper's wording; the choice is
argued in ``docs/method.md``) and *secondary* ones; two setup checks come first (the
regulariser moves selectivity; raising it costs accuracy). Every row of the findings table is
a :class:`Finding` over the complete runs:

- Spearman rho of the measure against alpha and against measured selectivity;
- for claims 1-4, the partial Spearman rho against alpha with clean accuracy held fixed, so a
  lower clean accuracy cannot pass for lower robustness: this is the row's *verdict
  statistic* (setup rows use the plain rho against alpha);
- the least-squares slope per unit of measured selectivity, with a 95% bootstrap CI that
  resamples seeds within each alpha;
- the verdict statistic's p-value adjusted by Holm within its family (setup, primary,
  secondary rows), and a verdict from the adjusted p: *reproduced*, *opposite*, or *no effect
  detected* with the slope's CI. Claim 3's "adversarial raises early-layer dimensionality more
  than corruption" is a paired test (mean difference, Wilcoxon) instead.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from selrob.report import effects, stats
from selrob.report.finding import (
    ROLES,
    Finding,
    clean_column,
    fmt,
    fmt_n,
    fmt_p,
    has,
    images_behind,
    trend,
)
from selrob.results import attack_columns, mid_epsilon_column

__all__ = ["PAPER", "Finding", "all_findings", "caption", "findings", "findings_table", "fmt",
           "fmt_n", "fmt_p"]  # fmt: skip


def _trend(claim: str, *args, **kwargs) -> Finding:  # noqa: ANN002, ANN003 - see finding.trend
    """:func:`selrob.report.finding.trend` for claim key ``claim`` (its label and wording)."""
    return trend(CLAIM_LABEL[claim], args[0], PAPER[claim], *args[1:], **kwargs)


PAPER = {
    "selectivity": "alpha < 0 lowers class selectivity and alpha > 0 raises it "
    "(the regulariser works)",
    "accuracy": "lowering selectivity costs little or no clean accuracy; "
    "raising it (alpha > 0) lowers accuracy",
    "1": "lower selectivity -> more robust to corruptions",
    "2": "higher selectivity -> more robust to white-box attacks",
    "3": "early-layer dimensionality is inversely related to selectivity; adversarial inputs "
    "raise early-layer dimensionality more than corruptions do, more so at low selectivity",
    "4": "input-unit gradients vary more across samples and across units "
    "in high-selectivity networks",
}
NORM_LABEL = {"linf": "L-inf", "l2": "L2"}
CLAIM_LABEL = {"selectivity": "setup", "accuracy": "setup", "1": "1", "2": "2", "3": "3", "4": "4"}

# --------------------------------------------------------------------------- the tests


def _setup(df: pd.DataFrame) -> list[Finding]:
    col = clean_column(df)
    return [
        _trend("selectivity", "setup", df, "selectivity", "mean class selectivity", +1, partial=False),
        _trend("accuracy", "setup", df[df["alpha"] >= 0], col,
               "clean accuracy (runs with alpha >= 0)", -1, partial=False),
    ]  # fmt: skip


def _claim1(df: pd.DataFrame) -> list[Finding]:
    rows = [
        _trend("1", "primary", df, "corrupted_accuracy_relative",
               "relative corrupted accuracy (mean corrupted / clean)", -1),
        _trend("1", "secondary", df, "corrupted_accuracy", "mean corrupted accuracy", -1),
        _trend("1", "secondary", df, "corruption_drop", "clean-minus-corrupted drop", +1),
        _trend("1", "secondary", df, "relative_mce", "relative mCE (vs the alpha = 0 runs)", +1),
        _trend("1", "secondary", df, "mce", "mCE (vs the alpha = 0 runs)", +1),
    ]  # fmt: skip
    for col in sorted(c for c in df.columns if c.startswith("corrupted_family_")):
        family = col.removeprefix("corrupted_family_")
        rows.append(
            _trend("1", "secondary", df, col, f"mean corrupted accuracy, {family} corruptions", -1)
        )
    return rows


def attack_groups(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(attack, norm) pairs measured, PGD L-inf first (the primary one)."""
    groups = sorted(
        {(a, n) for a, n in attack_columns(df)[["attack", "norm"]].itertuples(index=False)}
    )
    return sorted(groups, key=lambda g: (g != ("pgd", "linf"), g))


def _claim2(df: pd.DataFrame) -> list[Finding]:
    out = []
    cols = attack_columns(df)
    for k, (attack, norm) in enumerate(attack_groups(df)):
        label, key = attack_label(attack, norm), f"{attack}_{norm}"
        out.append(_trend("2", "primary" if k == 0 else "secondary", df, f"aucrel_{key}",
                          f"{label} accuracy relative to clean, area under the epsilon curve", +1))  # fmt: skip
        out.append(
            _trend(
                "2",
                "secondary",
                df,
                f"auc_{key}",
                f"{label} accuracy, area under the epsilon curve",
                +1,
            )
        )
        out.append(
            _trend(
                "2", "secondary", df, f"eps50_{key}", f"{label} eps50 (budget halving accuracy)", +1
            )
        )
        col = mid_epsilon_column(df, attack, norm)
        if col:
            eps = float(cols.loc[cols["column"] == col, "epsilon"].iloc[0])
            out.append(_trend("2", "secondary", df, col,
                              f"{label} accuracy at eps = {eps_label(eps, norm)}", +1))  # fmt: skip
    return out


def dim_measure(df: pd.DataFrame) -> str:
    """pca95 when measured, else participation_ratio."""
    return "pca95" if has(df, "dim_clean_pca95_early") else "participation_ratio"


def _claim3(df: pd.DataFrame) -> list[Finding]:
    m = dim_measure(df)
    out = [
        _trend(
            "3",
            "primary",
            df,
            f"dim_clean_{m}_early",
            f"early-layer clean dimensionality ({m})",
            -1,
        )
    ]
    adv, cor = f"dim_change_adversarial_{m}_early", f"dim_change_corrupted_{m}_early"
    if has(df, adv) and has(df, cor):
        data = stats.complete(df)
        d = stats.paired_difference(data[adv], data[cor])
        out.append(Finding("3", "secondary", PAPER["3"], f"early-layer change dimensionality ({m}), "
                           "adversarial minus corrupted", "_dim_diff_early", "mean difference (Wilcoxon)",
                           +1, value=d["mean"], p=d["p"], n=d["n"],
                           n_images=images_behind(df, "_dim_diff_early"), slope_lo=d["lo"], slope_hi=d["hi"],
                           why="" if math.isfinite(d["p"]) else "fewer than 3 runs with both changes",
                           note=f"95% CI of the difference [{d['lo']:.2f}, {d['hi']:.2f}]"))  # fmt: skip
        diff = df.assign(_dim_diff_early=df[adv] - df[cor])
        out.append(_trend("3", "secondary", diff, "_dim_diff_early",
                          "that difference (more at low selectivity)", -1))  # fmt: skip
    other = "participation_ratio" if m == "pca95" else "pca95"
    if has(df, f"dim_clean_{other}_early"):
        out.append(_trend("3", "secondary", df, f"dim_clean_{other}_early",
                          f"early-layer clean dimensionality ({other})", -1))  # fmt: skip
    return out


PRIMARY_GRADIENT = "across_samples_norm_cv"


def gradient_statistics(df: pd.DataFrame) -> list[str]:
    """Gradient statistics present as ``grad_<statistic>_mean`` columns (the primary first)."""
    found = [c[len("grad_") : -len("_mean")] for c in df.columns
             if c.startswith("grad_") and c.endswith("_mean")]  # fmt: skip
    return sorted(
        found, key=lambda s: (s != PRIMARY_GRADIENT, not s.startswith("across_samples"), s)
    )


def _claim4(df: pd.DataFrame) -> list[Finding]:
    found = gradient_statistics(df)
    primary = PRIMARY_GRADIENT if PRIMARY_GRADIENT in found else found[0]  # runs of older schemas
    return [_trend("4", "primary" if s == primary else "secondary", df, f"grad_{s}_mean",
                   f"gradient variability {s.replace('_', ' ')}", +1)
            for s in found]  # fmt: skip


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
    "setup": _setup, "1": _claim1, "2": _claim2, "3": _claim3, "4": _claim4,
}  # fmt: skip
NEEDS = {"1": "corrupted_accuracy", "3": "dim_clean_", "4": "grad_"}


def _measured(df: pd.DataFrame, key: str) -> bool:
    if "alpha" not in df:
        return False
    if key == "setup":
        return has(df, "selectivity") or has(df, clean_column(df))
    if key == "2":
        return not attack_columns(df).empty
    return any(has(df, c) for c in df.columns if c.startswith(NEEDS[key]))


_MEMO: dict[str, list[Finding]] = {}  # findings of the last few runs tables, by content
_MEMO_SIZE = 4


def _content_key(df: pd.DataFrame) -> str:
    """A digest of every column name, dtype and value of ``df`` (cells may hold lists)."""
    text = df.to_csv(index=True) + "|" + ",".join(str(t) for t in df.dtypes)
    return hashlib.sha256(text.encode()).hexdigest()


def all_findings(df: pd.DataFrame) -> list[Finding]:
    """Every claim's tests in order (setup checks, then claims 1-4), Holm-adjusted per role.

    A report asks for the same table's findings once per figure caption and table (nine times),
    and the bootstrap CIs make each computation take seconds, so the findings of a table are
    kept by its content: a changed table is computed afresh.
    """
    key = _content_key(df)
    if key not in _MEMO:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))  # the oldest entry
        _MEMO[key] = _compute_findings(df)
    return list(_MEMO[key])  # Findings are frozen; the list is the caller's


def _compute_findings(df: pd.DataFrame) -> list[Finding]:
    rows = [f for key in FINDERS if _measured(df, key) for f in FINDERS[key](df)]
    for role in ROLES:
        idx = [i for i, f in enumerate(rows) if f.role == role]
        adjusted = effects.holm([rows[i].p for i in idx])
        for i, p_adj in zip(idx, adjusted, strict=True):
            rows[i] = replace(rows[i], p_adj=p_adj)
    return rows


def findings(df: pd.DataFrame, key: str) -> list[Finding]:
    """The tests of one claim ("selectivity", "accuracy", "1".."4"), adjusted as in the table."""
    label = CLAIM_LABEL[key]
    return [
        f
        for f in all_findings(df)
        if f.claim == label and (label != "setup" or PAPER[key] == f.paper)
    ]


def caption(number: int, title: str, key: str, df: pd.DataFrame, note: str = "",
            pick: Callable[[Finding], bool] | None = None) -> str:  # fmt: skip
    """'Figure N. Title. <note> Paper: <claim>. Measured: <tests and verdicts>'.

    ``pick`` selects some of the claim's tests (e.g. figure 5 shows the clean-dimensionality
    ones only).
    """
    tests = [f for f in findings(df, key) if pick is None or pick(f)]
    measured = " ".join(f.sentence() for f in tests) or "no test possible (metric not measured)."
    note = f" {note}" if note else ""
    return f"Figure {number}. {title}.{note} Paper: {PAPER[key]}. Measured: {measured}"


COLUMNS = ["claim", "role", "paper", "measure", "test", "value", "p", "p_adj", "n", "n_images",
           "verdict", "rho_alpha", "p_alpha", "sel_rho", "sel_p", "partial_rho", "partial_p",
           "slope", "slope_lo", "slope_hi", "why", "note", "column"]  # fmt: skip


def findings_table(df: pd.DataFrame) -> pd.DataFrame:
    """The findings as a DataFrame, one row per :class:`Finding` (columns :data:`COLUMNS`)."""
    rows = [{c: getattr(f, c) for c in COLUMNS} for f in all_findings(df)]
    return pd.DataFrame(rows, columns=COLUMNS)


def primary_verdicts(df: pd.DataFrame) -> dict[str, str]:
    """{claim: verdict of its primary measure} (the one-line summary of a run)."""
    return {f.claim: f.verdict for f in all_findings(df) if f.role == "primary"}
