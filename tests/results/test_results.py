"""selrob.results: the tidy tables read from a fake RUNS_DIR, checked against the raw JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.fake_runs import CORRUPTION_NAMES, L2_EPS, LAYERS, LINF_EPS, write_fake_runs

from selrob import results
from selrob.results import NoRuns

ALPHAS = (-10.0, -1.0, 0.0, 1.0, 10.0)
SEEDS = (0, 1)
N_COMPLETE = len(ALPHAS) * len(SEEDS)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_fake_runs(root, ALPHAS, SEEDS)
    (root / "not-a-run").mkdir()  # no spec.json: ignored
    (root / "sweep.json").write_text("{}")
    return root


def _raw(runs_dir: Path) -> dict[str, tuple[dict, dict]]:
    """run_id -> (spec, metrics) read straight from disk, the oracle for every table."""
    out = {}
    for d in runs_dir.iterdir():
        if (d / "spec.json").is_file():
            out[d.name] = (json.loads((d / "spec.json").read_text()),
                           json.loads((d / "metrics.json").read_text()))  # fmt: skip
    return out


def test_load_runs_rows_columns_and_order(runs_dir: Path) -> None:
    df = results.load_runs(runs_dir)
    assert len(df) == N_COMPLETE + 1  # + the failed run; the non-run folder is ignored
    assert set(df["run_id"]) == set(_raw(runs_dir))
    for col in ("dataset", "model", "alpha", "seed", "lr", "status", "reason", "test_accuracy",
                "mean_selectivity", "clean_accuracy", "eval_selectivity", "selectivity",
                "corrupted_accuracy", "corruption_drop", "adv_pgd_linf_0.007843",
                "adv_fgsm_linf_0.003922", "adv_pgd_l2_0.25", "dim_clean_pca95_early",
                "dim_change_adversarial_participation_ratio_mean", "grad_across_units_mean"):  # fmt: skip
        assert col in df, col
    assert list(df["alpha"]) == sorted(df["alpha"])
    assert df["milestones"].iloc[0] == "[2]"  # list-valued spec fields become JSON strings


def test_failed_run_is_listed_with_reason(runs_dir: Path) -> None:
    df = results.load_runs(runs_dir)
    failed = df[df["status"] != "complete"]
    assert list(failed["status"]) == ["failed"]
    assert "non-finite" in failed["reason"].iloc[0]
    assert math.isnan(failed["corrupted_accuracy"].iloc[0])
    assert (df.loc[df["status"] == "complete", "corrupted_accuracy"].notna()).all()


def test_scalars_match_the_json(runs_dir: Path) -> None:
    df = results.load_runs(runs_dir).set_index("run_id")
    early = LAYERS[: math.ceil(len(LAYERS) / 3)]
    for run_id, (spec, m) in _raw(runs_dir).items():
        if m["status"] != "complete":
            continue
        ev, row = m["evaluation"], df.loc[run_id]
        corr = np.mean([r["accuracy"] for r in ev["corruptions"]])
        assert row["alpha"] == spec["alpha"]
        assert row["corrupted_accuracy"] == pytest.approx(corr)
        assert row["corruption_drop"] == pytest.approx(ev["clean_accuracy"] - corr)
        assert row["selectivity"] == pytest.approx(ev["selectivity"]["mean"])
        assert row["mean_selectivity"] == pytest.approx(m["mean_selectivity"])
        pgd = [r for r in ev["attacks"] if r["attack"] == "pgd" and r["norm"] == "linf"
               and abs(r["epsilon"] - 2 / 255) < 1e-9]  # fmt: skip
        assert row["adv_pgd_linf_0.007843"] == pytest.approx(pgd[0]["accuracy"])
        dims = [r["value"] for r in ev["dimensionality"] if r["input_kind"] == "clean"
                and r["measure"] == "pca95" and r["layer"] in early]  # fmt: skip
        assert row["dim_clean_pca95_early"] == pytest.approx(np.mean(dims))
        grads = [r["value"] for r in ev["gradients"] if r["statistic"] == "across_samples"]
        assert row["grad_across_samples_mean"] == pytest.approx(np.mean(grads))


def test_long_tables_shapes(runs_dir: Path) -> None:
    corr = results.corruption_table(runs_dir)
    assert len(corr) == N_COMPLETE * len(CORRUPTION_NAMES) * 5
    assert list(corr.columns[:4]) == ["run_id", "alpha", "seed", "status"]
    assert {"corruption", "severity", "accuracy"} <= set(corr.columns)
    att = results.attack_table(runs_dir)
    assert len(att) == N_COMPLETE * (2 * len(LINF_EPS) + len(L2_EPS))
    dim = results.dimensionality_table(runs_dir)
    assert len(dim) == N_COMPLETE * len(LAYERS) * 5 * 2
    assert dim.groupby("layer")["layer_index"].first().to_dict()["stem"] == 0
    grad = results.gradient_table(runs_dir)
    assert len(grad) == N_COMPLETE * len(LAYERS) * 2
    sel = results.selectivity_layer_table(runs_dir)
    # eval + train per layer for complete runs; the failed run has its one epoch's train values
    assert len(sel) == N_COMPLETE * len(LAYERS) * 2 + len(LAYERS)
    assert set(sel["source"]) == {"eval", "train"}


def test_summary_table_means_over_complete_runs(runs_dir: Path) -> None:
    df = results.load_runs(runs_dir)
    summary = results.summary_table(df)
    assert list(summary["alpha"]) == list(ALPHAS)
    assert (summary["n"] == len(SEEDS)).all()  # the failed run (alpha 10) is not counted
    raw = _raw(runs_dir).values()
    sel0 = [m["evaluation"]["selectivity"]["mean"] for s, m in raw
            if s["alpha"] == 0.0 and m["status"] == "complete"]  # fmt: skip
    assert summary.loc[summary["alpha"] == 0.0, "selectivity"].item() == pytest.approx(
        np.mean(sel0)
    )
    assert "adv_pgd_linf_0.007843" in summary


def test_attack_column_helpers(runs_dir: Path) -> None:
    assert results.attack_column("pgd", "linf", 1 / 255) == "adv_pgd_linf_0.003922"
    df = results.load_runs(runs_dir)
    assert results.mid_epsilon_column(df) == "adv_pgd_linf_0.007843"
    assert results.mid_epsilon_column(df, "pgd", "l2") == "adv_pgd_l2_0.25"  # upper middle of 4
    assert results.mid_epsilon_column(df, "fgsm") == "adv_fgsm_linf_0.007843"
    assert results.mid_epsilon_column(df.drop(columns=results.attack_columns(df)["column"])) == ""


def test_save_results_writes_csv_parquet_and_long_tables(tmp_path: Path) -> None:
    write_fake_runs(tmp_path, (-1.0, 0.0, 1.0), (0,))
    csv_path, parquet_path = results.save_results(tmp_path)
    df = results.load_runs(tmp_path)
    back = pd.read_parquet(parquet_path)
    assert back.shape == df.shape
    assert np.allclose(back["corrupted_accuracy"], df["corrupted_accuracy"], equal_nan=True)
    assert pd.read_csv(csv_path)["run_id"].tolist() == df["run_id"].tolist()
    for name in results.TABLES:
        assert (tmp_path / f"results_{name}.csv").is_file()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files
    assert results.save_results(tmp_path) == (csv_path, parquet_path)  # rerun overwrites


def test_no_runs_raises(tmp_path: Path) -> None:
    with pytest.raises(NoRuns, match="selrob sweep"):
        results.load_runs(tmp_path)
    with pytest.raises(NoRuns, match="does not exist"):
        results.load_runs(tmp_path / "nope")
    (tmp_path / "x").mkdir()  # a folder without spec.json is not a run
    with pytest.raises(NoRuns):
        results.save_results(tmp_path)


def test_unreadable_and_missing_metrics_do_not_crash(tmp_path: Path) -> None:
    a, b = write_fake_runs(tmp_path, (0.0,), (0, 1), failed=False)
    (a / "metrics.json").write_text("{not json")
    (b / "metrics.json").unlink()
    df = results.load_runs(tmp_path).set_index("run_id")
    assert df.loc[a.name, "status"] == "unreadable"
    assert "metrics.json" in df.loc[a.name, "reason"]
    assert df.loc[b.name, "status"] == "missing"
    assert results.corruption_table(tmp_path).empty
