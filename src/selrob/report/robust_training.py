"""The report section "Robustness training and selectivity".

The paper relates its regulariser to robustness training: networks trained for corruption
robustness end up with lower class selectivity, adversarially trained ones with higher. A sweep
with ``variants`` of ``train_mode`` (the ``robust-training`` profile) measures both: per train
mode, the selectivity (per layer and overall) beside the robustness measures, and one finding
per non-standard mode: the difference of its mean selectivity from the standard runs', with a
95% bootstrap CI (seeds resampled within each mode). The verdict is *reproduced* or *opposite*
when the CI excludes 0 on that side, else *no effect detected*. With a few seeds per mode this
is a descriptive check, and the section says so.

The paper's own claims (figures, findings) are tested on the standard runs only
(:func:`standard_only`), so robustness-trained networks never enter the alpha trends.
"""

from __future__ import annotations

import base64
import io
import math
from html import escape

import numpy as np
import pandas as pd

from selrob.enums import RunStatus
from selrob.report.plotting import new_figure

EXPECTED = {"corruptions": -1, "noise": -1, "adversarial": +1}  # the paper's sign vs standard
_COLUMNS = [("selectivity", "selectivity"), ("clean_accuracy", "clean acc."),
            ("corrupted_accuracy", "corrupted acc."),
            ("corrupted_accuracy_relative", "corrupted / clean"),
            ("aucrel_pgd_linf", "PGD L-inf AUC / clean"),
            ("aucrel_fgsm_linf", "FGSM L-inf AUC / clean")]  # fmt: skip


def modes(runs: pd.DataFrame) -> pd.Series:
    """Each run's train mode ("standard" for runs made before train modes existed)."""
    col = runs["train_mode"] if "train_mode" in runs else pd.Series("standard", index=runs.index)
    return col.fillna("standard").astype(str)


def standard_only(
    runs: pd.DataFrame, tables: dict[str, pd.DataFrame]
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The standard-trained runs and their rows of every long table."""
    keep = runs[modes(runs) == "standard"]
    ids = set(keep["run_id"])
    return keep, {k: t[t["run_id"].isin(ids)] for k, t in tables.items()}


def mode_table(runs: pd.DataFrame, layers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per train mode, over complete runs: n, the measures' means, per-layer selectivity."""
    done = runs[runs["status"] == RunStatus.COMPLETE].assign(train_mode=modes(runs))
    cols = [c for c, _ in _COLUMNS if c in done and done[c].notna().any()]
    held = sorted(c for c in done.columns if str(c).startswith("corrupted_family_"))
    out = done.groupby("train_mode", sort=True)[cols + held].mean()
    out.insert(0, "n", done.groupby("train_mode").size())
    if layers is not None and not layers.empty:
        ev = layers[(layers["source"] == "eval") & layers["run_id"].isin(done["run_id"])]
        ev = ev.merge(done[["run_id", "train_mode"]], on="run_id")
        per = ev.pivot_table(index="train_mode", columns="layer", values="selectivity")
        order = ev.drop_duplicates("layer").sort_values("layer_index")["layer"]
        out = out.join(per[list(order)].add_prefix("SI "))
    return out.reset_index()


def _boot_diff(
    a: np.ndarray, b: np.ndarray, n_boot: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile CI of mean(a) - mean(b), resampling each group with replacement."""
    rng = np.random.default_rng(seed)
    da = rng.choice(a, (n_boot, a.size)).mean(1)
    db = rng.choice(b, (n_boot, b.size)).mean(1)
    lo, hi = np.percentile(da - db, [2.5, 97.5])
    return float(lo), float(hi)


def mode_findings(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per non-standard mode: selectivity difference from standard, CI and verdict."""
    done = runs[runs["status"] == RunStatus.COMPLETE].assign(train_mode=modes(runs))
    base = done.loc[done["train_mode"] == "standard", "selectivity"].dropna().to_numpy()
    rows = []
    for mode, group in done.groupby("train_mode", sort=True):
        if mode == "standard" or str(mode).startswith("probe"):
            continue  # probes are listed in the table; the paper makes no claim about them
        vals = group["selectivity"].dropna().to_numpy()
        row = {"train_mode": mode, "n": vals.size, "n_standard": base.size,
               "expected": "lower" if EXPECTED.get(str(mode), 0) < 0 else "higher"}  # fmt: skip
        if vals.size < 2 or base.size < 2:
            row |= {"difference": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                    "verdict": "not computed: needs 2 complete runs of each mode"}  # fmt: skip
        else:
            lo, hi = _boot_diff(vals, base)
            sign = EXPECTED.get(str(mode), 0)
            side = 1 if lo > 0 else -1 if hi < 0 else 0
            verdict = ("no effect detected" if side == 0 else
                       "reproduced" if side == sign else "opposite")  # fmt: skip
            row |= {"difference": float(vals.mean() - base.mean()), "ci_low": lo, "ci_high": hi,
                    "verdict": verdict}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def scatter_png(runs: pd.DataFrame) -> bytes | None:
    """Selectivity vs robustness, one point per complete run: standard runs in grey,
    robustness-trained runs and probes as labelled markers. None without the columns."""
    done = runs[runs["status"] == RunStatus.COMPLETE].assign(train_mode=modes(runs))
    ys = [(c, n) for c, n in _COLUMNS[3:5] if c in done and done[c].notna().any()]
    if done.empty or not ys or "selectivity" not in done:
        return None
    fig = new_figure(5.2 * len(ys), 4.2)
    axes = fig.subplots(1, len(ys), squeeze=False)[0]
    for ax, (col, name) in zip(axes, ys, strict=True):
        for k, (mode, group) in enumerate(done.groupby("train_mode", sort=True)):
            style = {"color": "0.55", "marker": "o"} if mode == "standard" else \
                {"color": f"C{k}", "marker": "^s*Dv"[k % 5], "s": 60}  # fmt: skip
            ax.scatter(group["selectivity"], group[col], label=str(mode), **style)
        ax.set(xlabel="class selectivity (evaluated)", ylabel=name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _scatter_html(runs: pd.DataFrame) -> str:
    png = scatter_png(runs)
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return ('<figure id="figure-robust"><img data-figure="robust" alt="Selectivity vs '
            f'robustness per train mode" src="data:image/png;base64,{data}"><figcaption>'
            "Selectivity against relative robustness, one point per run: standard runs in grey, "
            "robustness-trained runs and probed models labelled.</figcaption></figure>")  # fmt: skip


def section_html(runs: pd.DataFrame, layers: pd.DataFrame | None) -> str:
    """The HTML section; "" when the sweep has only standard runs."""
    if set(modes(runs)) <= {"standard"}:
        return ""  # probed models and robustness-trained runs are listed here, if any
    table = mode_table(runs, layers)
    found = mode_findings(runs)

    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else escape(str(v))

    def html_table(df: pd.DataFrame) -> str:
        head = "".join(f"<th>{escape(str(c))}</th>" for c in df.columns)
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>"
                       for r in df.itertuples(index=False))  # fmt: skip
        return f"<table><tr>{head}</tr>{body}</table>"

    names = dict(_COLUMNS)
    table = table.rename(columns={c: names.get(c, c) for c in table.columns})
    return (
        '<h2 id="robust-training">Robustness training and selectivity</h2>'
        "<p><b>The paper's claim:</b> networks trained for corruption robustness end up with "
        "lower class selectivity, adversarially trained ones with higher.</p>"
        "<p><b>Our measurement:</b> per train mode, means over its complete runs "
        "(selectivity on the evaluated test images; <i>corrupted_family_*</i> are the "
        "corruption families, a held-out family measuring robustness to unseen "
        "corruptions).</p>"
        + html_table(table)
        + "<p><b>Verdicts:</b> the difference of each mode's mean selectivity from the "
        "standard runs', with a 95% bootstrap CI resampling seeds within each mode; "
        "<i>reproduced</i> or <i>opposite</i> when the CI excludes 0 on that side. With a "
        "few seeds per mode this is descriptive, not a test with a controlled error rate."
        "</p>"
        + (html_table(found) if not found.empty else "<p>No non-standard run.</p>")
        + _scatter_html(runs)
    )
