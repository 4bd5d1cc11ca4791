"""The report section "Robustness training and selectivity": per-mode means and verdicts
against hand computations, and the paper's findings untouched by robustness-trained runs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from helpers.fake_runs import write_fake_runs  # noqa: E402

from selrob.report import findings_table, write_report  # noqa: E402
from selrob.report.robust_training import mode_findings, mode_table, section_html  # noqa: E402
from selrob.results import load_runs  # noqa: E402


def _frame(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"run_id": f"{m}{i}", "train_mode": m, "status": "complete", "selectivity": v,
             "clean_accuracy": 0.9 - v / 10} for m, vs in values.items() for i, v in enumerate(vs)]  # fmt: skip
    return pd.DataFrame(rows)


def test_means_and_verdicts_by_hand() -> None:
    df = _frame({"standard": [0.40, 0.42], "corruptions": [0.30, 0.33],
                 "adversarial": [0.38, 0.45], "noise": [0.50, 0.52]})  # fmt: skip
    table = mode_table(df).set_index("train_mode")
    assert table.loc["corruptions", "n"] == 2
    assert table.loc["corruptions", "selectivity"] == pytest.approx(0.315)
    assert table.loc["standard", "clean_accuracy"] == pytest.approx(0.9 - 0.041)
    found = mode_findings(df).set_index("train_mode")
    # corruptions: every resample of {.30,.33} minus every one of {.40,.42} is < 0: the CI is
    # inside [.30-.42, .33-.40] = [-.12, -.07], below 0 -> lower, as the paper says
    c = found.loc["corruptions"]
    assert c["difference"] == pytest.approx(0.315 - 0.41)
    assert -0.12 - 1e-9 <= c["ci_low"] <= c["ci_high"] <= -0.07 + 1e-9
    assert c["verdict"] == "reproduced" and c["expected"] == "lower"
    # adversarial: {.38,.45} vs {.40,.42} straddles 0 -> no effect detected
    assert found.loc["adversarial", "verdict"] == "no effect detected"
    # noise (expected lower, like corruptions) is clearly higher -> opposite
    assert found.loc["noise", "verdict"] == "opposite"
    one = mode_findings(_frame({"standard": [0.4, 0.41], "adversarial": [0.5]}))
    assert one["verdict"].iloc[0].startswith("not computed") and np.isnan(one["difference"].iloc[0])


def _set_mode(run: Path, mode: str, selectivity_shift: float) -> None:
    spec = json.loads((run / "spec.json").read_text())
    spec["train_mode"] = mode
    (run / "spec.json").write_text(json.dumps(spec))
    m = json.loads((run / "metrics.json").read_text())
    m["evaluation"]["selectivity"]["mean"] += selectivity_shift
    (run / "metrics.json").write_text(json.dumps(m))


def test_report_section_and_paper_findings_from_standard_runs_only(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write_fake_runs(plain, (-1.0, 0.0, 1.0), (0, 1, 2), failed=False)
    mixed = tmp_path / "mixed"
    shutil.copytree(plain, mixed)
    extra = write_fake_runs(tmp_path / "extra", (0.0,), (5, 6), failed=False)
    for i, run in enumerate(extra):  # two robustness-trained runs beside the standard grid
        _set_mode(run, "adversarial", 0.2 + 0.01 * i)
        shutil.copytree(run, mixed / run.name)
    df = load_runs(mixed)
    assert sorted(df["train_mode"].unique()) == ["adversarial", "standard"]
    doc = write_report(mixed).read_text()
    assert "Robustness training and selectivity" in doc and "reproduced" in doc
    assert 'data-figure="robust"' in doc  # selectivity vs robustness, labelled by train mode
    assert "train modes (complete runs)</td><td>adversarial, standard" in doc
    # the paper's findings ignore the adversarial runs: the same table as without them
    alone = findings_table(load_runs(plain))
    assert (mixed / "findings.csv").read_text() == alone.to_csv(index=False)
    assert section_html(load_runs(plain), None) == ""  # no section without such runs
