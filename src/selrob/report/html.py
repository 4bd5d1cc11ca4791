"""The self-contained HTML report of a sweep: header, summary, paper-vs-run findings, figures.

``write_report`` saves each figure as ``RUNS_DIR/report/figN_name.png`` and writes
``RUNS_DIR/report.html`` with the same PNGs embedded as base64, inline CSS and no scripts or
external URLs, so it opens offline and can be mailed as one file. Each figure's ``<img>`` has
``id="figN"`` and ``data-figure="N"``; a skipped figure is a paragraph with ``data-skipped="N"``.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
import re
from html import escape
from pathlib import Path

import pandas as pd

from selrob import paths
from selrob.errors import OutputNotWritable
from selrob.report import stats
from selrob.report.claims import attack_label, eps_label, findings_table, fmt_n, fmt_p
from selrob.report.figures import FigureResult, make_figures
from selrob.report.robust_training import modes, section_html, standard_only
from selrob.results import attack_columns, load_all, mid_epsilon_column
from selrob.storage import atomic_write, read_json_object

_NUMERIC = re.compile(r"^[+-]?\d[\d.e+\-]*%?( \[[\d.e+\-]+, [\d.e+\-]+\])?$")
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.reproduced{background:#e3f4e1}.opposite{background:#f9dede}.no-effect{background:#f1f1f1}
.notice{background:#eef4fb;border:1px solid #c9dcf0;padding:.6em .9em}
figure{margin:1.5em 0 2.5em}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.92em;margin-top:.4em}.skipped{color:#8a5a00;background:#fff6e0;padding:.5em}
.meta td:first-child{font-weight:600}details{margin:1em 0}
"""


def _png(result: FigureResult) -> bytes:
    buf = io.BytesIO()
    result.figure.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _verdict_class(value: str) -> str:
    if value == "reproduced":
        return "reproduced"
    return "opposite" if value == "opposite" else "no-effect"


def _table(df: pd.DataFrame, verdict_col: str | None = None) -> str:
    """A DataFrame of strings as an HTML table; cells of ``verdict_col`` are coloured."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = []
        for c in df.columns:
            value = str(row[c])
            cls = "num" if _NUMERIC.match(value) else ""
            if c == verdict_col:
                cls = _verdict_class(value)
            cells.append(f'<td class="{cls}">{escape(value)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _ci(mean: float, lo: float, hi: float, pct: bool) -> str:
    if not math.isfinite(mean):
        return "n/a"
    k, d = (100, 1) if pct else (1, 3)
    if lo == hi:
        return f"{mean * k:.{d}f}"
    return f"{mean * k:.{d}f} [{lo * k:.{d}f}, {hi * k:.{d}f}]"


def summary_with_ci(runs: pd.DataFrame) -> pd.DataFrame:
    """Per alpha: n seeds and headline metrics as 'mean [95% CI]' strings (accuracies in %)."""
    adv = mid_epsilon_column(runs)
    cols = [("selectivity", "selectivity", False), ("clean_accuracy", "clean acc. (%)", True),
            ("corrupted_accuracy", "mean corrupted acc. (%)", True),
            ("corrupted_accuracy_relative", "corrupted / clean (%)", True),
            ("corruption_drop", "drop (pp)", True)]  # fmt: skip
    if adv:
        row = attack_columns(runs).set_index("column").loc[adv]
        label = attack_label(row["attack"], row["norm"])
        cols.append((adv, f"{label} @ {eps_label(row['epsilon'], row['norm'])} acc. (%)", True))
        key = f"{row['attack']}_{row['norm']}"
        cols.append((f"aucrel_{key}", f"{label} relative AUC (%)", True))
    done = stats.complete(runs)
    cols = [c for c in cols if c[0] in done and done[c[0]].notna().any()]
    rows = []
    for alpha, group in done.groupby("alpha", sort=True):
        row = {"alpha": f"{alpha:g}", "n": str(len(group))}
        for col, label, pct in cols:
            row[label] = _ci(*stats.bootstrap_ci(group[col]), pct)
        rows.append(row)
    return pd.DataFrame(rows)


def _header(runs: pd.DataFrame, root: Path) -> str:
    done = stats.complete(runs)
    status = runs["status"].value_counts().to_dict()

    def values(col: str, frame: pd.DataFrame = runs) -> str:
        vals = frame[col].dropna().unique() if col in frame else []
        try:
            vals = sorted(vals)
        except TypeError:
            pass
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals) or "n/a"

    meta = [("runs directory", str(root)), ("dataset", values("dataset")),
            ("model", values("model")),
            ("runs", f"{len(runs)} (" + ", ".join(f"{n} {s}" for s, n in status.items()) + ")"),
            ("damaged runs (skipped)", str(int((runs["status"] == "unreadable").sum()))),
            ("alphas (complete runs)", values("alpha", done)),
            ("seeds (complete runs)", values("seed", done)),
            ("train modes (complete runs)", values("train_mode", done))]  # fmt: skip
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in meta)
    html = f'<table class="meta">{rows}</table>'
    bad = runs[runs["status"] != "complete"]
    if len(bad):
        cols = [c for c in ("run_id", "alpha", "seed", "status", "reason") if c in bad]
        html += "<h3>Runs not complete</h3>" + _table(bad[cols].astype(str))
    return html


def _or_why(values: pd.Series, why: pd.Series, show) -> pd.Series:  # noqa: ANN001
    """Formatted values, or the row's reason where a value is undefined (never a bare NaN)."""
    return pd.Series([show(v) if math.isfinite(v) else (w or "n/a") for v, w in zip(values, why, strict=True)],
                     index=values.index)  # fmt: skip


SMOKE_TEST = ("<p class=\"notice\"><b>This is selrob's demo: a small smoke test</b> of the whole "
              "pipeline on a subsample, trained for a few minutes on a laptop CPU. Its verdicts are "
              "not the answer to the paper's question. The converged-scale run (<code>selrob demo "
              "--profile reproduce</code>) and its verdicts are in <code>docs/reproduction.md</code> "
              "of the selrob repository.</p>")  # fmt: skip


def _notice(root: Path) -> str:
    """The smoke-test notice when ``root`` holds the packaged demo sweep."""
    sweep, _ = read_json_object(paths.sweep_file(root))
    return SMOKE_TEST if sweep.get("name") == "demo" else ""


def _slope_cell(slope: float, lo: float, hi: float, why: str) -> str:
    """'slope [lo, hi]', the reason a CI is missing, or a paired row's CI of its difference."""
    ci = f"[{lo:.3g}, {hi:.3g}]" if math.isfinite(lo) and math.isfinite(hi) else ""
    if math.isfinite(slope):
        return f"{slope:+.3g} {ci or f'({why})' if why else ci}".strip()
    return f"{ci} (CI of the difference)" if ci else ""


def _findings_html(runs: pd.DataFrame) -> str:
    f = findings_table(runs)
    if f.empty:
        return "<p>No claim could be tested: the runs have no evaluated metrics.</p>"
    paper = f["paper"].where(f["paper"] != f["paper"].shift(), "")  # say each claim once
    slope = [
        _slope_cell(*v)
        for v in zip(f["slope"], f["slope_lo"], f["slope_hi"], f["why"], strict=True)
    ]
    shown = pd.DataFrame({
        "claim": f["claim"], "role": f["role"], "paper": paper, "measure": f["measure"],
        "runs x test images": [f"{n} x {fmt_n(m)}" for n, m in zip(f["n"], f["n_images"], strict=True)],
        "test": f["test"], "statistic": _or_why(f["value"], f["why"], _signed),
        "p": f["p"].map(fmt_p), "Holm p": f["p_adj"].map(fmt_p),
        "rho vs alpha": f["rho_alpha"].map(_signed), "rho vs selectivity": f["sel_rho"].map(_signed),
        "slope per unit selectivity [95% CI]": slope, "verdict": f["verdict"], "note": f["note"],
    })  # fmt: skip
    if not f["note"].astype(bool).any():
        shown = shown.drop(columns="note")
    return _table(shown, verdict_col="verdict")


def _signed(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:+.3f}"


def _figure_html(result: FigureResult, png: bytes | None) -> str:
    n = result.number
    if png is None:
        return (f'<p class="skipped" data-skipped="{n}">Figure {n} ({escape(result.title)}) '
                f"{escape(result.note)}</p>")  # fmt: skip
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="figure-{n}"><img id="fig{n}" data-figure="{n}" '
            f'alt="Figure {n}: {escape(result.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_caption_html(result.caption)}</figcaption></figure>")  # fmt: skip


def _caption_html(caption: str) -> str:
    """The caption with its 'Figure N. Title.' lead in bold and each verdict highlighted."""
    m = re.match(r"(Figure \d+\. [^.]*\.)(.*)", caption, re.S)
    head, rest = (m.group(1), m.group(2)) if m else ("", caption)
    rest = re.sub(r"-&gt; ([a-z ()&;=0-9.,:+\[\]\-]+?)\.(?= |$)",
                  lambda v: f'-&gt; <b class="{_verdict_class(v.group(1))}">{v.group(1)}</b>.',
                  escape(rest))  # fmt: skip
    return f"<b>{escape(head)}</b>{rest}"


def _trends_html(runs: pd.DataFrame) -> str:
    t = stats.all_trends(runs)
    if t.empty:
        return ""
    for c in ("rho", "slope", "intercept", "r2"):
        t[c] = t[c].map(lambda v: "n/a" if not math.isfinite(v) else f"{v:+.4g}")
    t["p"] = t["p"].map(fmt_p)
    return ("<details><summary>Every metric's trend vs alpha and vs measured selectivity "
            f"(Spearman, linear fit; one point per complete run)</summary>{_table(t.astype(str))}"
            "</details>")  # fmt: skip


def render_html(runs: pd.DataFrame, figures: list[FigureResult], pngs: dict[int, bytes],
                root: Path, layers: pd.DataFrame | None = None) -> str:  # fmt: skip
    """The report document as one string (no external resources). The paper's claims use the
    standard-trained runs; robustness-trained ones get their own section."""
    every, runs = runs, runs[modes(runs) == "standard"]
    title = "selrob report: " + " / ".join(
        str(runs[c].dropna().iloc[0])
        for c in ("dataset", "model")
        if c in runs and runs[c].notna().any()
    )
    summary = summary_with_ci(runs)
    parts = [
        f"<h1>{escape(title)}</h1>",
        "<p>Leavitt &amp; Morcos (2020), <i>Linking average- and worst-case perturbation "
        "robustness via class selectivity and dimensionality</i>: this sweep's results. "
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>",
        _notice(root),
        _header(every, root),
        "<h2>Summary per alpha</h2><p>Means over seeds with 95% bootstrap confidence intervals."
        "</p>" + (_table(summary) if not summary.empty else "<p>No complete run.</p>"),
        "<h2>Paper findings vs this run</h2><p>One row per test, over the complete runs (one "
        "point per run). Each claim has one <i>primary</i> measure and some <i>secondary</i> "
        "ones. Claims 1-4 are tested by the partial Spearman correlation with alpha, clean "
        "accuracy held fixed (so a lower clean accuracy cannot pass for lower robustness); the "
        "setup checks by the plain correlation. p-values are Holm-adjusted within each role; "
        "a verdict is <i>reproduced</i> or <i>opposite</i> at an adjusted p &lt; 0.05, else "
        "<i>no effect detected</i>, with the CI of the slope per unit of measured selectivity "
        "(resampling seeds within each alpha) showing how large an effect could have been "
        "missed. Definitions: docs/method.md of selrob.</p>",
        _findings_html(runs),
        "<h2>Figures</h2>",
        *(_figure_html(f, pngs.get(f.number)) for f in figures),
        _trends_html(runs),
        section_html(every, layers),
    ]
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")  # fmt: skip


def write_report(runs_dir: Path | str, out: Path | str | None = None) -> Path:
    """Write the figures' PNGs and the self-contained HTML report; return the HTML's path.

    ``out`` is the HTML file (default ``RUNS_DIR/report.html``); PNGs go to a ``report/``
    folder beside it and the findings table to ``findings.csv``. Raises NoRuns when the
    directory has no runs.
    """
    root = Path(runs_dir)
    runs, tables = load_all(root)
    html_path = Path(out) if out is not None else paths.report_html(root)
    fig_dir = paths.report_dir(root) if out is None else html_path.parent / "report"
    try:
        fig_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputNotWritable(f"cannot create {fig_dir}: {e}; choose another --out") from e
    figures = make_figures(*standard_only(runs, tables))  # the paper's claims: standard runs
    pngs = {}
    for f in figures:
        if not f.skipped:
            png = _png(f)
            pngs[f.number] = png
            fig_path = paths.report_figure(fig_dir, f.number, f.name)
            atomic_write(fig_path, lambda p, b=png: p.write_bytes(b))
    doc = render_html(runs, figures, pngs, root, tables.get("selectivity_layers"))
    table = findings_table(standard_only(runs, tables)[0])
    atomic_write(paths.findings_csv(html_path.parent), lambda p: table.to_csv(p, index=False))
    atomic_write(html_path, lambda p: p.write_text(doc, encoding="utf-8"))
    return html_path
