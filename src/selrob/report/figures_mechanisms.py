"""Figures 5-7: the mechanisms (dimensionality of representations, input-unit gradients).

Same contract as :mod:`selrob.report.figures`: ``(runs, long_table) -> (Figure, caption)``,
raising :class:`NoFigureData` when nothing was measured. "Early layers" are the first third of
the unit layers (``selrob.results``), where the paper locates the dimensionality effect.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from selrob.errors import NoFigureData
from selrob.report import stats
from selrob.report.claims import caption
from selrob.report.plotting import (
    alpha_colors,
    alpha_legend,
    new_figure,
    ordered_layers,
    per_layer_lines,
    run_level,
    scatter_by_alpha,
)

_KIND_LABEL = {
    "clean": "clean inputs",
    "change_corrupted": "change under corruption",
    "change_adversarial": "change under attack",
}


def _measure(dim: pd.DataFrame, kinds: tuple[str, ...]) -> str:
    """pca95 when it was measured for these input kinds, else participation_ratio."""
    sub = dim[dim["input_kind"].isin(kinds)]
    have = set(sub["measure"])
    return "pca95" if "pca95" in have else "participation_ratio"


def _dim_rows(dim: pd.DataFrame, kinds: tuple[str, ...], what: str) -> tuple[pd.DataFrame, str]:
    data = stats.complete(dim)
    if data.empty or not set(kinds) <= set(data["input_kind"]):
        raise NoFigureData(
            f"no complete run has {what} (selrob evaluate --analyses dimensionality)"
        )
    m = _measure(data, kinds)
    data = data[(data["measure"] == m) & data["input_kind"].isin(kinds)]
    return run_level(data, "value", ["input_kind", "layer"]), m


def _log_y(ax) -> None:
    """Log y axis with plain-number tick labels (6, 10, 20 rather than 6 x 10^0)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _ylabel(m: str) -> str:
    return "PCs for 95% variance" if m == "pca95" else "participation ratio"


def _outside_legend(fig: Figure, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, title="layer")


def fig5_dimensionality(runs: pd.DataFrame, dimensionality: pd.DataFrame) -> tuple[Figure, str]:
    """Clean-input dimensionality per layer vs alpha; early-layer value vs selectivity."""
    table, m = _dim_rows(dimensionality, ("clean",), "a clean dimensionality measurement")
    layers = ordered_layers(dimensionality)
    fig = new_figure(12, 4.5)
    ax1, ax2 = fig.subplots(1, 2)
    per_layer_lines(ax1, table, "value", layers)
    ax1.set(ylabel=_ylabel(m), title="Clean inputs, per layer")
    _log_y(ax1)
    col = f"dim_clean_{m}_early"
    scatter_by_alpha(ax2, runs, "selectivity", col)
    alpha_legend(ax2, stats.complete(runs)["alpha"].dropna().unique())
    ax2.set(xlabel="measured mean selectivity", ylabel=f"{_ylabel(m)} (early-layer mean)",
            title="Early layers vs selectivity")  # fmt: skip
    _outside_legend(fig, ax1)
    clean_only = lambda f: f.column.startswith("dim_clean_")  # noqa: E731
    return fig, caption(5, "Dimensionality of clean representations", "3", runs, pick=clean_only)


def fig6_change_dimensionality(
    runs: pd.DataFrame, dimensionality: pd.DataFrame
) -> tuple[Figure, str]:
    """Dimensionality of (perturbed - clean) activations per layer: corruptions vs attacks."""
    kinds = ("change_corrupted", "change_adversarial")
    table, m = _dim_rows(dimensionality, kinds, "change dimensionality for both perturbations")
    layers = ordered_layers(dimensionality)
    fig = new_figure(14, 4.5)
    axes = fig.subplots(1, 3)
    axes[1].sharey(axes[0])
    for ax, kind in zip(axes[:2], kinds, strict=True):
        per_layer_lines(ax, table[table["input_kind"] == kind], "value", layers)
        ax.set(ylabel=_ylabel(m), title=_KIND_LABEL[kind].capitalize())
        _log_y(ax)
    wide = table.pivot_table(index=["run_id", "alpha", "layer"], columns="input_kind",
                             values="value").reset_index()  # fmt: skip
    wide["diff"] = wide["change_adversarial"] - wide["change_corrupted"]
    per = wide.groupby(["alpha", "layer"])["diff"].mean().reset_index()
    colors = alpha_colors(per["alpha"].tolist())
    index = {layer: i for i, layer in enumerate(layers)}
    for a, g in per.groupby("alpha"):
        g = g.assign(i=g["layer"].map(index)).sort_values("i")
        axes[2].plot(g["i"], g["diff"], marker="o", ms=3, color=colors[a])
    axes[2].axhline(0, color="0.5", lw=0.8)
    axes[2].set_xticks(range(len(layers)), layers, rotation=60, fontsize=7)
    axes[2].set(ylabel=f"adversarial minus corrupted ({_ylabel(m)})",
                title="Attack minus corruption, per layer")  # fmt: skip
    axes[2].grid(alpha=0.3)
    alpha_legend(axes[2], list(colors), fig)
    _outside_legend(fig, axes[0])
    note = ("Change = perturbed minus clean activations of the same inputs; "
            "the tests use the early layers.")  # fmt: skip
    change_only = lambda f: not f.column.startswith("dim_clean_")  # noqa: E731
    return fig, caption(6, "Dimensionality of the perturbation-induced change", "3", runs, note,
                        change_only)  # fmt: skip


def fig7_gradients(runs: pd.DataFrame, gradients: pd.DataFrame) -> tuple[Figure, str]:
    """Input-unit gradient variability vs alpha, across samples and across units."""
    data = stats.complete(gradients)
    if data.empty:
        raise NoFigureData("no complete run has gradient statistics (--analyses gradients)")
    table = run_level(data, "value", ["statistic", "layer"])
    layers = ordered_layers(gradients)
    statistics = [s for s in ("across_samples", "across_units") if s in set(table["statistic"])]
    statistics += sorted(set(table["statistic"]) - set(statistics))
    fig = new_figure(6 * len(statistics) + 1, 4.5)
    axes = fig.subplots(1, len(statistics), squeeze=False)[0]
    for ax, stat in zip(axes, statistics, strict=True):
        sub = table[table["statistic"] == stat]
        per_layer_lines(ax, sub, "value", layers)
        col = f"grad_{stat}_mean"
        summary = stats.per_alpha_summary(runs, col)
        if not summary.empty:
            ax.plot(summary["alpha"], summary["mean"], color="k", lw=2.5, label="mean of layers")
        ax.set(ylabel="gradient variability", title=stat.replace("_", " "))
    _outside_legend(fig, axes[0])
    return fig, caption(7, "Input-unit gradient variability", "4", runs)
