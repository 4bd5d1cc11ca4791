"""The researcher's path on tiny data: sweep -> results -> report, then the report in Chromium.

The same code path as ``selrob demo`` (which runs the packaged demo sweep on real
Fashion-MNIST), scaled down so it runs in about a minute.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers.browser import render_figures

from selrob.cli import main

SWEEP = """
name = "e2e"
dataset = "fashion-mnist"
model = "small_cnn"
alphas = [-2.0, 0.0, 2.0]
seeds = [0]
epochs = 2
batch_size = 64
limit_test = 64
corruptions = ["contrast", "gaussian_noise"]
severities = [1, 3]
attacks = ["fgsm"]
epsilons = [0.0, 0.05, 0.1]
analyses = ["dimensionality", "gradients"]
analysis_samples = 48
gradient_samples = 8
"""


@pytest.fixture(scope="module")
def runs(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    (root / "sweep.toml").write_text(SWEEP)
    out = root / "runs"
    assert (
        main(
            [
                "sweep",
                str(root / "sweep.toml"),
                "--out",
                str(out),
                "--data-dir",
                str(idx_dir),
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["results", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    return out


def test_results_table_has_every_run_and_metric(runs: Path) -> None:
    df = pd.read_csv(runs / "results.csv")
    assert sorted(df["alpha"]) == [-2.0, 0.0, 2.0] and set(df["status"]) == {"complete"}
    for col in ("clean_accuracy", "selectivity", "corrupted_accuracy", "corruption_drop"):
        assert df[col].notna().all(), col
    assert any(c.startswith("adv_fgsm_linf_") for c in df.columns)
    assert (runs / "results.parquet").stat().st_size > 0


def test_rerunning_the_sweep_skips_everything(
    runs: Path, idx_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    before = {p: p.stat().st_mtime_ns for p in runs.glob("*/metrics.json")}
    assert (
        main(
            [
                "sweep",
                str(runs.parent / "sweep.toml"),
                "--out",
                str(runs),
                "--data-dir",
                str(idx_dir),
                "--quiet",
            ]
        )
        == 0
    )
    assert "3 skipped" in capsys.readouterr().out
    assert before == {p: p.stat().st_mtime_ns for p in runs.glob("*/metrics.json")}


def test_report_in_chromium_has_every_figure(runs: Path, tmp_path: Path) -> None:
    html = runs / "report.html"
    text = html.read_text()
    assert "http://" not in text and "https://" not in text
    widths, skipped = render_figures(html, tmp_path / "report.png")
    assert len(widths) == 7 and skipped == 0, (widths, skipped)
    assert all(w > 0 for w in widths)
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_empty_runs_dir_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sweep" in err[0]


def test_demo_command_reaches_the_sweep(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`selrob demo` parses its flags and resolves its profile (an unknown one is one line)."""
    assert (
        main(["demo", "--profile", "nope", "--out", str(tmp_path), "--quiet", "--jobs", "1"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "paper-cifar10" in err[0]
