"""One function per figure of the paper the report redraws (``docs/method.md``), and their list.

Every figure function takes the wide run table (``selrob.results.load_runs``) and, where it
needs one, a long table; it returns ``(Figure, caption)`` where the caption states the paper's
finding, the Spearman rho/p measured here and a verdict. It raises :class:`NoFigureData` when
the runs lack the measurements. Error bars are 95% bootstrap CIs across seeds; alpha is drawn
on a symlog axis because the grids span negative to positive values over decades.
Figures 5-7 (mechanisms) live in :mod:`selrob.report.figures_mechanisms`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from selrob.errors import NoFigureData
from selrob.report import stats
from selrob.report.claims import attack_label, caption, eps_label
from selrob.report.figures_mechanisms import (
    fig5_dimensionality,
    fig6_change_dimensionality,
    fig7_gradients,
)
from selrob.report.plotting import (
    alpha_axis,
    alpha_colors,
    alpha_legend,
    layer_colors,
    new_figure,
    ordered_layers,
    plot_ci,
    run_level,
    scatter_by_alpha,
)
from selrob.results import TABLES, attack_columns, mid_epsilon_column

log = logging.getLogger(__name__)


def _require(df: pd.DataFrame, col: str, what: str) -> None:
    if col not in df or stats.complete(df)[col].notna().sum() == 0:
        raise NoFigureData(f"no complete run has {what}")


def fig1_selectivity(
    runs: pd.DataFrame, selectivity_layers: pd.DataFrame | None = None
) -> tuple[Figure, str]:
    """Mean class selectivity vs alpha (evaluation and train-time), and per layer."""
    _require(runs, "selectivity", "a selectivity measurement")
    layers = selectivity_layers if selectivity_layers is not None else pd.DataFrame()
    fig = new_figure(11, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    for col, label, ls in (("eval_selectivity", "test set (evaluation)", "-"),
                           ("mean_selectivity", "training minibatches (last epoch)", "--")):  # fmt: skip
        plot_ci(ax1, stats.per_alpha_summary(runs, col), label=label, ls=ls)
    alpha_axis(ax1, runs["alpha"].dropna().unique())
    ax1.set(ylabel="mean class selectivity index", title="Network selectivity")
    ax1.legend(fontsize=8)
    if not layers.empty:
        source = "eval" if (layers["source"] == "eval").any() else "train"
        table = run_level(layers[layers["source"] == source], "selectivity", ["layer"])
        names = ordered_layers(layers)
        colors = layer_colors(names)
        for layer in names:
            summary = stats.per_alpha_summary(table[table["layer"] == layer], "selectivity")
            plot_ci(ax2, summary, color=colors[layer], label=layer, lw=1, ms=3, capsize=2)
        alpha_axis(ax2, table["alpha"].dropna().unique())
        ax2.set(ylabel="layer selectivity", title=f"Per layer ({source})")
        ax2.legend(fontsize=7, ncol=2)
    else:
        ax2.set_axis_off()
    return fig, caption(1, "Mean class selectivity vs alpha", "selectivity", runs)


def fig2_clean_accuracy(runs: pd.DataFrame) -> tuple[Figure, str]:
    """Clean test accuracy vs alpha, and vs measured selectivity."""
    col = (
        "clean_accuracy"
        if "clean_accuracy" in runs and runs["clean_accuracy"].notna().any()
        else "test_accuracy"
    )
    _require(runs, col, "a test accuracy")
    fig = new_figure(11, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    plot_ci(ax1, stats.per_alpha_summary(runs, col), color="k", label=col.replace("_", " "))
    if col == "clean_accuracy":
        plot_ci(ax1, stats.per_alpha_summary(runs, "test_accuracy"), color="0.5", ls="--",
                label="test accuracy at end of training")  # fmt: skip
    alpha_axis(ax1, runs["alpha"].dropna().unique())
    ax1.set(ylabel="accuracy", title="Clean accuracy vs alpha")
    ax1.legend(fontsize=8)
    scatter_by_alpha(ax2, runs, "selectivity", col, fit=False)
    alpha_legend(ax2, stats.complete(runs)["alpha"].dropna().unique())
    ax2.set(xlabel="measured mean selectivity", ylabel="accuracy", title="Accuracy vs selectivity")
    note = "The verdict tests alpha >= 0 (the paper's accuracy cost of raising selectivity)."
    return fig, caption(2, "Clean test accuracy vs alpha", "accuracy", runs, note)


def _corruption_heatmap(fig: Figure, ax, corr: pd.DataFrame) -> None:
    per = run_level(corr, "accuracy", ["corruption"])
    mat = per.groupby(["corruption", "alpha"])["accuracy"].mean().unstack("alpha")
    mat = mat.reindex(list(dict.fromkeys(corr["corruption"])))
    centred = (mat.sub(mat.mean(axis=1), axis=0)) * 100
    lim = float(np.nanmax(np.abs(centred.to_numpy()))) or 1.0
    im = ax.imshow(centred.to_numpy(), aspect="auto", cmap="RdBu", vmin=-lim, vmax=lim)
    ax.set_xticks(range(mat.shape[1]), [f"{a:g}" for a in mat.columns], rotation=45, fontsize=7)
    ax.set_yticks(range(mat.shape[0]), [str(c).replace("_", " ") for c in mat.index], fontsize=7)
    ax.set(xlabel="alpha", title="Per corruption: accuracy minus its mean over alphas")
    fig.colorbar(im, ax=ax, label="percentage points", shrink=0.85)


def fig3_corruptions(runs: pd.DataFrame, corruptions: pd.DataFrame) -> tuple[Figure, str]:
    """Corrupted accuracy vs alpha: mean, drop, per severity, per corruption."""
    corr = stats.complete(corruptions)
    if corr.empty:
        raise NoFigureData("no corruption was evaluated (selrob evaluate --corruptions all)")
    alphas = runs["alpha"].dropna().unique()
    fig = new_figure(12, 8.5)
    (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
    plot_ci(ax1, stats.per_alpha_summary(runs, "corrupted_accuracy"), color="C3",
            label="mean over corruptions x severities")  # fmt: skip
    plot_ci(ax1, stats.per_alpha_summary(runs, "clean_accuracy"), color="0.4", ls="--",
            label="clean")  # fmt: skip
    plot_ci(ax1, stats.per_alpha_summary(runs, "corruption_drop"), color="C4", ls=":",
            label="drop (clean minus corrupted)")  # fmt: skip
    alpha_axis(ax1, alphas)
    ax1.set(ylabel="accuracy", title="Corrupted accuracy and its drop from clean")
    ax1.legend(fontsize=8)
    rel = "corrupted_accuracy_relative"
    plot_ci(ax2, stats.per_alpha_summary(runs, rel), color="C3", label="all corruptions")
    families = sorted(c for c in runs.columns if c.startswith("corrupted_family_"))
    for k, col in enumerate(families):
        share = runs[col] / runs["clean_accuracy"]
        summary = stats.per_alpha_summary(runs.assign(_share=share), "_share")
        plot_ci(ax2, summary, color=f"C{5 + k}", lw=1, ms=2, capsize=2, alpha=0.8,
                label=col.removeprefix("corrupted_family_"))  # fmt: skip
    alpha_axis(ax2, alphas)
    ax2.set(ylabel="corrupted / clean accuracy",
            title="Relative corrupted accuracy (the primary measure), per family")  # fmt: skip
    ax2.legend(fontsize=7, ncol=2)
    sev = run_level(corr, "accuracy", ["severity"]).groupby(["alpha", "severity"])["accuracy"]
    sev = sev.mean().reset_index()
    clean = stats.complete(runs).groupby("alpha")["clean_accuracy"].mean()
    colors = alpha_colors(sev["alpha"].tolist())
    for a, group in sev.groupby("alpha"):
        xs, ys = list(group["severity"]), list(group["accuracy"])
        if a in clean and np.isfinite(clean[a]):
            xs, ys = [0, *xs], [clean[a], *ys]
        ax3.plot(xs, ys, marker="o", ms=3, color=colors[a], label=f"{a:g}")
    ax3.set(xlabel="severity (0 = clean)", ylabel="accuracy (mean over corruptions, seeds)",
            title="Per severity")  # fmt: skip
    ax3.grid(alpha=0.3)
    alpha_legend(ax3, list(colors), fig)
    _corruption_heatmap(fig, ax4, corr)
    return fig, caption(3, "Accuracy under corruption vs alpha", "1", runs)


def fig4_attacks(runs: pd.DataFrame, attacks: pd.DataFrame) -> tuple[Figure, str]:
    """Accuracy vs epsilon per attack/norm (one curve per alpha); mid-epsilon accuracy vs alpha."""
    att = stats.complete(attacks)
    if att.empty:
        raise NoFigureData("no attack was evaluated (selrob evaluate --attacks fgsm,pgd)")
    groups = sorted(att.groupby(["attack", "norm"]).groups)
    fig = new_figure(max(11, 4 * len(groups)), 8.5)
    grid = fig.add_gridspec(2, len(groups))
    curves = att.groupby(["attack", "norm", "alpha", "epsilon"])["accuracy"].mean().reset_index()
    colors = alpha_colors(curves["alpha"].tolist())
    for i, (attack, norm) in enumerate(groups):
        ax = fig.add_subplot(grid[0, i])
        sub = curves[(curves["attack"] == attack) & (curves["norm"] == norm)]
        scale = 255 if norm == "linf" else 1
        for a, g in sub.groupby("alpha"):
            ax.plot(g["epsilon"] * scale, g["accuracy"], marker="o", ms=3, color=colors[a])
        ax.set(xlabel="epsilon" + (" (x 1/255)" if scale == 255 else " (L2, pixel units)"),
               ylabel="accuracy", title=attack_label(attack, norm))  # fmt: skip
        ax.grid(alpha=0.3)
        if i == 0:
            alpha_legend(ax, list(colors), fig, "outside right upper")
    ax, ax_rel = grid[1, :].subgridspec(1, 2).subplots()
    cols = attack_columns(runs)
    for k, (attack, norm) in enumerate(groups):
        col = mid_epsilon_column(runs, attack, norm)
        if col:
            eps = float(cols.loc[cols["column"] == col, "epsilon"].iloc[0])
            label = f"{attack_label(attack, norm)}, eps = {eps_label(eps, norm)}"
            plot_ci(ax, stats.per_alpha_summary(runs, col), color=f"C{k}", label=label)
        plot_ci(ax_rel, stats.per_alpha_summary(runs, f"aucrel_{attack}_{norm}"), color=f"C{k}",
                label=attack_label(attack, norm))  # fmt: skip
    for a in (ax, ax_rel):
        alpha_axis(a, runs["alpha"].dropna().unique())
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    ax.set(ylabel="accuracy under attack", title="Accuracy at a fixed (median) epsilon")
    ax_rel.set(ylabel="area under accuracy / clean vs epsilon",
               title="Relative accuracy over the whole grid (the primary measure)")  # fmt: skip
    return fig, caption(4, "Accuracy under white-box attack", "2", runs)


@dataclass
class FigureResult:
    """A drawn figure (or why it was skipped) with its caption."""

    number: int
    name: str
    title: str
    figure: Figure | None
    caption: str
    note: str = ""

    @property
    def skipped(self) -> bool:
        return self.figure is None


Tables = dict[str, pd.DataFrame]
FIGURES: list[tuple[int, str, str, Callable[[pd.DataFrame, Tables], tuple[Figure, str]]]] = [
    (1, "selectivity", "Mean class selectivity vs alpha",
     lambda r, t: fig1_selectivity(r, t["selectivity_layers"])),
    (2, "clean_accuracy", "Clean test accuracy vs alpha", lambda r, t: fig2_clean_accuracy(r)),
    (3, "corruptions", "Accuracy under corruption vs alpha",
     lambda r, t: fig3_corruptions(r, t["corruptions"])),
    (4, "attacks", "Accuracy under white-box attack",
     lambda r, t: fig4_attacks(r, t["attacks"])),
    (5, "dimensionality", "Representation dimensionality per layer vs alpha",
     lambda r, t: fig5_dimensionality(r, t["dimensionality"])),
    (6, "change_dimensionality", "Dimensionality of the perturbation-induced change",
     lambda r, t: fig6_change_dimensionality(r, t["dimensionality"])),
    (7, "gradients", "Input-unit gradient variability vs alpha",
     lambda r, t: fig7_gradients(r, t["gradients"])),
]  # fmt: skip


def make_figures(runs: pd.DataFrame, tables: Tables) -> list[FigureResult]:
    """Draw every figure; a figure lacking data (or failing) becomes a skipped entry with a note."""
    tables = {name: tables.get(name, pd.DataFrame()) for name in TABLES}
    out = []
    for number, name, title, draw in FIGURES:
        try:
            fig, cap = draw(runs, tables)
            out.append(FigureResult(number, name, title, fig, cap))
        except NoFigureData as e:
            out.append(FigureResult(number, name, title, None, "", f"skipped: {e}"))
        except Exception as e:  # a report must not die on one bad figure
            log.exception("figure %d (%s) failed", number, name)
            out.append(FigureResult(number, name, title, None, "", f"failed: {e!r}"))
    return out
