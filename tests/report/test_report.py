"""selrob.report: figures and captions, the self-contained HTML report, a browser render,
and the dependency rule (results, stats and report never import torch)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from helpers.browser import render_figures
from helpers.fake_runs import write_fake_runs
from matplotlib.figure import Figure

from selrob import report, results
from selrob.results import NoRuns

SRC = Path(__file__).resolve().parents[2] / "src" / "selrob"


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_fake_runs(root)
    return root


@pytest.fixture(scope="module")
def loaded(fake_dir: Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    return results.load_all(fake_dir)


@pytest.fixture(scope="module")
def html_path(fake_dir: Path) -> Path:
    return report.write_report(fake_dir)


def _artists(fig: Figure) -> int:
    return sum(len(ax.lines) + len(ax.collections) + len(ax.images) for ax in fig.axes)


@pytest.mark.parametrize("entry", report.FIGURES, ids=[f[1] for f in report.FIGURES])
def test_each_figure_draws_data_and_states_the_trend(entry, loaded) -> None:
    number, _, _, draw = entry
    runs, tables = loaded
    fig, caption = draw(runs, tables)
    assert isinstance(fig, Figure) and fig.axes and _artists(fig) > 0
    assert caption.startswith(f"Figure {number}.")
    assert "Paper:" in caption and ("Spearman rho" in caption or "Wilcoxon" in caption)
    # the fake runs are built with the paper's trends, so every test reproduces them
    assert "-> reproduced" in caption and "opposite" not in caption
    assert "no effect detected" not in caption and "not testable" not in caption


def test_findings_reproduced_on_paper_like_runs(loaded) -> None:
    table = report.findings_table(loaded[0])
    assert set(table["claim"]) == {"setup", "1", "2", "3", "4"}
    assert (table["verdict"] == "reproduced").all(), table[["measure", "verdict"]]
    primary = table[table["role"] == "primary"]
    assert sorted(primary["claim"]) == ["1", "2", "3", "4"]  # one primary measure per claim
    rows_all_runs = ~table["measure"].str.contains("alpha >= 0")  # that row tests 6 of the 10 runs
    assert (table.loc[rows_all_runs, "n"] == 10).all() and (table["n_images"] > 0).all()
    assert (table["p_adj"] >= table["p"]).all()  # Holm never lowers a p-value


def test_findings_are_kept_by_content_never_stale(loaded) -> None:
    from selrob.report import claims

    runs = loaded[0]
    first = claims.all_findings(runs)
    assert claims.all_findings(runs.copy()) == first  # an equal table: the kept findings
    assert claims._compute_findings(runs) == first  # and they equal a fresh computation
    edited = runs.copy()
    col = "corrupted_accuracy_relative"
    edited[col] = edited[col].to_numpy()[::-1]  # reverse the corruption trend
    changed = {f.measure: f for f in claims.all_findings(edited)}
    before = {f.measure: f for f in first}
    name = "relative corrupted accuracy (mean corrupted / clean)"
    assert changed[name].value != before[name].value
    assert claims.all_findings(runs) == first  # the original table still gets its own


def test_findings_flip_when_trends_are_reversed(tmp_path: Path) -> None:
    write_fake_runs(tmp_path, reverse=True)
    table = report.findings_table(results.load_runs(tmp_path)).set_index("measure")
    # reversed: the drop shrinks with selectivity (raw corrupted accuracy also tracks clean
    # accuracy, which falls for alpha > 0, so only the drop is guaranteed to flip)
    assert table.loc["clean-minus-corrupted drop", "verdict"] == "opposite"
    assert table.loc["gradient variability across samples", "verdict"] == "opposite"
    claim2 = table[table["claim"] == "2"]["verdict"]
    assert len(claim2) == 3 * 4 and (claim2 == "opposite").all()  # 3 attack curves x 4 measures
    assert table.loc["mean class selectivity", "verdict"] == "reproduced"  # not reversed


def test_report_files_and_self_containment(html_path: Path, fake_dir: Path) -> None:
    assert html_path == fake_dir / "report.html"
    doc = html_path.read_text()
    for n, name, _, _ in report.FIGURES:
        png = fake_dir / "report" / f"fig{n}_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert re.search(
            rf'<img id="fig{n}" data-figure="{n}"[^>]*src="data:image/png;base64,', doc
        )
    assert "http://" not in doc and "https://" not in doc
    assert "<script" not in doc.lower()
    assert not re.search(r'(src|href)\s*=\s*"(?!data:)', doc)  # nothing loaded from outside
    assert "fashion-mnist" in doc and "resnet20" in doc
    assert "non-finite loss" in doc  # the failed run is listed with its reason
    assert "Paper findings vs this run" in doc and doc.count('class="reproduced"') >= 10


def test_missing_measurements_skip_figures_with_a_note(tmp_path: Path) -> None:
    write_fake_runs(tmp_path, (-1.0, 0.0, 1.0), (0, 1), attacks=False, analyses=False)
    doc = report.write_report(tmp_path).read_text()
    for n in (1, 2, 3):
        assert f'data-figure="{n}"' in doc
    for n in (4, 5, 6, 7):
        assert f'data-skipped="{n}"' in doc and f'data-figure="{n}"' not in doc
    assert "no attack was evaluated" in doc
    assert not (tmp_path / "report" / "fig4_attacks.png").exists()


def test_all_runs_failed_still_writes_a_report(tmp_path: Path) -> None:
    run = write_fake_runs(tmp_path, (0.0,), (0,))[-1]
    for d in tmp_path.iterdir():
        if d.is_dir() and d != run:
            (d / "metrics.json").write_text((run / "metrics.json").read_text())
    out = report.write_report(tmp_path, out=tmp_path / "elsewhere" / "r.html")
    doc = out.read_text()
    assert out.is_file() and doc.count("data-skipped=") == 7
    assert "No complete run" in doc


def test_write_report_without_runs_raises(tmp_path: Path) -> None:
    with pytest.raises(NoRuns):
        report.write_report(tmp_path)


def test_report_renders_in_chromium(html_path: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    widths, _ = render_figures(html_path, shot)
    assert len(widths) == len(report.FIGURES)
    assert all(w > 0 for w in widths), widths
    assert shot.stat().st_size > 10_000


def _drop_clean_attack_points(runs_dir: Path) -> None:
    import json

    for metrics in runs_dir.glob("*/metrics.json"):
        m = json.loads(metrics.read_text())
        ev = m.get("evaluation")
        if ev:
            ev["attacks"] = [r for r in ev["attacks"] if r["epsilon"] > 0]
            metrics.write_text(json.dumps(m))


@pytest.mark.parametrize(
    ("alphas", "seeds", "edit", "reasons"),
    [
        ((1.0,), (0, 1, 2, 3), None, ["one alpha only"]),
        (
            (-1.0, 1.0, 2.0),
            (0, 1),
            None,
            ["no complete alpha = 0 run to serve as the mCE baseline"],
        ),
        ((-2.0, -1.0, 0.0, 1.0, 2.0), (0,), None, ["fewer than 2 seeds per alpha: no CI"]),
        (
            (-1.0, 0.0, 1.0),
            (0, 1),
            _drop_clean_attack_points,
            ["the epsilon grid has no 0 (clean) point"],
        ),
    ],
    ids=["one-alpha", "no-baseline", "one-seed", "no-eps-0"],
)
def test_undefined_measures_are_explained_not_shown_as_nan(tmp_path: Path, alphas, seeds, edit,
                                                           reasons) -> None:  # fmt: skip
    write_fake_runs(tmp_path, alphas, seeds, failed=False)
    if edit is not None:
        edit(tmp_path)
    doc = report.write_report(tmp_path).read_text()
    table = report.findings_table(results.load_runs(tmp_path))
    for reason in reasons:
        assert reason in doc, reason
    shown = re.sub(r"<[^>]+>", " ", doc)
    assert not re.search(r"\bnan\b", shown, re.I), "a NaN is shown as a result"
    assert table["verdict"].str.len().gt(0).all()
