"""Plot helpers shared by the report's figures: alpha axes and colours, CI error bars.

Figures are built as bare ``matplotlib.figure.Figure`` objects (Agg canvas, no pyplot state),
so the report never touches the global backend and never leaks open figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from selrob.report import stats

ALPHA_CMAP = "coolwarm"  # blue = selectivity penalised (alpha < 0), red = rewarded (alpha > 0)
LAYER_CMAP = "viridis"  # dark = early layers, yellow = late layers


def new_figure(width: float, height: float) -> Figure:
    """An empty figure with constrained layout, detached from pyplot."""
    return Figure(figsize=(width, height), layout="constrained", dpi=100)


def linthresh(alphas: Sequence[float]) -> float:
    """Linear range of the symlog alpha axis: the smallest non-zero |alpha| (1 if none)."""
    nz = [abs(a) for a in alphas if a != 0 and math.isfinite(a)]
    return min(nz) if nz else 1.0


def _signed_position(alphas: Sequence[float]) -> np.ndarray:
    """Alphas mapped to [-1, 1] on a symlog scale (0 stays 0), for colouring."""
    a = np.asarray(alphas, dtype=float)
    t = linthresh(alphas)
    s = np.sign(a) * np.log10(1 + np.abs(a) / t)
    m = np.max(np.abs(s)) if s.size else 0.0
    return s / m if m > 0 else s


def alpha_colors(alphas: Sequence[float]) -> dict[float, Any]:
    """A diverging colour per alpha: blue (low) -> grey (0) -> red (high)."""
    cmap = matplotlib.colormaps[ALPHA_CMAP]
    uniq = sorted({float(a) for a in alphas})
    pos = _signed_position(uniq)
    # keep the palest middle colours readable on white
    return {a: cmap(0.5 + 0.47 * p) for a, p in zip(uniq, pos, strict=True)}


def layer_colors(layers: Sequence[str]) -> dict[str, Any]:
    """A sequential colour per layer, in network order."""
    cmap = matplotlib.colormaps[LAYER_CMAP]
    n = max(len(layers) - 1, 1)
    return {layer: cmap(0.9 * i / n) for i, layer in enumerate(layers)}


def _alpha_ticks(uniq: list[float], most: int = 11) -> list[float]:
    """All alphas if few; else 0, the extremes and the powers of ten present; else every k-th."""
    if len(uniq) <= most:
        return uniq
    nice = [a for a in uniq if a == 0 or abs(math.log10(abs(a)) - round(math.log10(abs(a)))) < 1e-9]
    ticks = sorted({uniq[0], uniq[-1], *nice})
    if 3 <= len(ticks) <= most:
        return ticks
    step = math.ceil(len(uniq) / most)
    return sorted({*uniq[::step], uniq[-1]})


def alpha_axis(ax: Axes, alphas: Sequence[float]) -> None:
    """Symlog x axis labelled with the alphas present (thinned when there are many)."""
    uniq = sorted({float(a) for a in alphas if math.isfinite(a)})
    ax.set_xscale("symlog", linthresh=linthresh(uniq), linscale=0.6)
    ticks = _alpha_ticks(uniq)
    ax.set_xticks(ticks, [f"{a:g}" for a in ticks], rotation=45 if len(ticks) > 7 else 0)
    ax.minorticks_off()
    ax.set_xlabel("alpha (selectivity regulariser; symlog scale)")
    ax.axvline(0, color="0.8", lw=0.8, zorder=0)
    ax.grid(alpha=0.3)


def plot_ci(ax: Axes, summary: pd.DataFrame, x: str = "alpha", **kw: Any) -> None:
    """Means with 95% bootstrap-CI error bars from :func:`selrob.report.stats.per_alpha_summary`."""
    if summary.empty:
        return
    yerr = np.vstack([summary["mean"] - summary["lo"], summary["hi"] - summary["mean"]])
    kw.setdefault("marker", "o")
    kw.setdefault("capsize", 3)
    kw.setdefault("ms", 4)
    ax.errorbar(summary[x], summary["mean"], yerr=np.clip(yerr, 0, None), **kw)


def run_level(table: pd.DataFrame, value: str, groups: Sequence[str]) -> pd.DataFrame:
    """Complete runs' rows averaged to one value per run and group (e.g. per layer)."""
    data = stats.complete(table)
    keys = ["run_id", "alpha", "seed", *groups]
    if data.empty:
        return pd.DataFrame(columns=[*keys, value, "status"])
    out = data.groupby(keys, sort=False, dropna=False)[value].mean().reset_index()
    out["status"] = "complete"
    return out


def ordered_layers(table: pd.DataFrame) -> list[str]:
    """Layer names ordered by their ``layer_index`` (network order)."""
    if "layer_index" not in table or table.empty:
        return list(dict.fromkeys(table.get("layer", [])))
    order = table.groupby("layer")["layer_index"].min().sort_values()
    return [str(x) for x in order.index]


def per_layer_lines(ax: Axes, table: pd.DataFrame, value: str, layers: Sequence[str]) -> None:
    """One CI line per layer of ``value`` vs alpha (table: run-level rows with a layer column)."""
    colors = layer_colors(layers)
    for layer in layers:
        summary = stats.per_alpha_summary(table[table["layer"] == layer], value)
        plot_ci(ax, summary, color=colors[layer], label=layer, lw=1.2, ms=3, capsize=2)
    alpha_axis(ax, table["alpha"].dropna().unique())


def scatter_by_alpha(ax: Axes, df: pd.DataFrame, x: str, y: str, fit: bool = True) -> None:
    """Per-run scatter coloured by alpha, with a least-squares line unless ``fit=False``."""
    data = stats.complete(df)[[x, y, "alpha"]].dropna()
    colors = alpha_colors(data["alpha"].tolist())
    ax.scatter(data[x], data[y], c=[colors[a] for a in data["alpha"]], s=28, edgecolor="0.2")
    slope, intercept, _ = stats.linear_fit(data[x], data[y])
    if fit and math.isfinite(slope):
        xs = np.linspace(data[x].min(), data[x].max(), 2)
        ax.plot(xs, slope * xs + intercept, color="0.3", ls="--", lw=1, label="linear fit")
    ax.grid(alpha=0.3)


def alpha_legend(
    ax: Axes, alphas: Sequence[float], fig: Figure | None = None, loc: str = "outside right lower"
) -> None:
    """A legend of the alpha colours: in ``ax``, or beside ``fig`` when there are many alphas."""
    colors = alpha_colors(alphas)
    handles = [
        matplotlib.lines.Line2D([], [], color=c, marker="o", lw=1.5, label=f"{a:g}")
        for a, c in colors.items()
    ]
    kw = {"handles": handles, "title": "alpha", "fontsize": 7, "title_fontsize": 8}
    if fig is not None and len(handles) > 8:
        fig.legend(loc=loc, ncol=2 if len(handles) > 16 else 1, **kw)
    else:
        ax.legend(ncol=2 if len(handles) > 8 else 1, loc="best", **kw)
