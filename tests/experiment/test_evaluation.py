"""`selrob evaluate` end to end on a tiny run: every section lands in metrics.json, reruns are
no-ops, bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selrob.cli import main


@pytest.fixture(scope="module")
def run_dir(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    assert (
        main(
            [
                "train",
                "--model",
                "small_cnn",
                "--epochs",
                "2",
                "--data-dir",
                str(idx_dir),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    return next(out.glob("*/"))


def test_evaluate_all_sections(run_dir: Path, idx_dir: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["evaluate", str(run_dir), "--data-dir", str(idx_dir), "--quiet", "--limit-test", "64",
            "--corruptions", "contrast,impulse_noise", "--severities", "1,5", "--attacks", "fgsm,pgd",
            "--epsilons", "0,0.05,0.1", "--pgd-steps", "3", "--analyses", "dimensionality,gradients",
            "--analysis-samples", "48", "--gradient-samples", "8"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "clean accuracy" in out and "mean corrupted accuracy" in out
    m = json.loads((run_dir / "metrics.json").read_text())
    ev = m["evaluation"]
    assert m["status"] == "complete" and len(m["epochs"]) == 2
    assert ev["n_test"] == 64 and 0 <= ev["clean_accuracy"] <= 1
    assert set(ev["selectivity"]["per_layer"]) == {"stem", "block1", "block2"}
    assert {(r["corruption"], r["severity"]) for r in ev["corruptions"]} == {
        (c, s) for c in ("contrast", "impulse_noise") for s in (1, 5)
    }
    assert {(r["attack"], r["epsilon"]) for r in ev["attacks"]} == {
        (a, e) for a in ("fgsm", "pgd") for e in (0, 0.05, 0.1)
    }
    for r in ev["attacks"]:
        if r["epsilon"] == 0:
            assert r["accuracy"] == pytest.approx(ev["clean_accuracy"])
    kinds = {r["input_kind"] for r in ev["dimensionality"]}
    assert {"clean", "corrupted", "adversarial", "change_corrupted", "change_adversarial"} <= kinds
    assert {r["layer"] for r in ev["gradients"]} == {"stem", "block1", "block2"}
    before = (run_dir / "metrics.json").read_text()
    assert main(args) == 0  # same settings: nothing recomputed, file unchanged
    assert (run_dir / "metrics.json").read_text() == before


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--epsilons", "-0.1"], "epsilon"),
        (["--severities", "6", "--corruptions", "fog"], "severity"),
        (["--corruptions", "rain"], "unknown corruption"),
        (["--attacks", "cw"], "cw"),
        (["--norm", "l1", "--attacks", "fgsm"], "l1"),
        (["--analyses", "saliency"], "saliency"),
    ],
)
def test_bad_evaluate_input(
    run_dir: Path, idx_dir: Path, extra: list[str], match: str, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        [
            "evaluate",
            str(run_dir),
            "--data-dir",
            str(idx_dir),
            "--quiet",
            "--limit-test",
            "16",
            *extra,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and match in err[0], err


def test_evaluate_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", str(tmp_path), "--quiet"]) == 2
    assert "not a selrob run" in capsys.readouterr().err
