"""The sweep report: statistics, the paper's claims as tests, one figure per paper figure, and a
self-contained HTML page. No torch: it reads only the results tables (:mod:`selrob.results`).
"""

from selrob.errors import NoFigureData
from selrob.report.claims import Finding, all_findings, findings_table
from selrob.report.figures import (
    FIGURES,
    FigureResult,
    fig1_selectivity,
    fig2_clean_accuracy,
    fig3_corruptions,
    fig4_attacks,
    fig5_dimensionality,
    fig6_change_dimensionality,
    fig7_gradients,
    make_figures,
)
from selrob.report.html import render_html, write_report

__all__ = [
    "FIGURES",
    "FigureResult",
    "Finding",
    "NoFigureData",
    "all_findings",
    "fig1_selectivity",
    "fig2_clean_accuracy",
    "fig3_corruptions",
    "fig4_attacks",
    "fig5_dimensionality",
    "fig6_change_dimensionality",
    "fig7_gradients",
    "findings_table",
    "make_figures",
    "render_html",
    "write_report",
]
