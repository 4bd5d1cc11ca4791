"""Damaged run directories: every command that reads one says what is wrong in one line,
exits 2 and changes nothing; a sweep goes on with the healthy runs; results and report skip
the damaged ones; ``selrob check`` lists every problem."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from selrob.cli import main

TRAIN = ["--model", "small_cnn", "--epochs", "1", "--batch-size", "64", "--limit-train", "128",
         "--limit-test", "64"]  # fmt: skip
MARKER = "selrob-pwned"


class _Evil:
    """Unpickling this runs ``open(MARKER, 'w')``: what a malicious checkpoint would do."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.target, "w"))


def _evil_pickle(marker: Path) -> bytes:
    import pickle

    return pickle.dumps({"model": _Evil(marker)})


@pytest.fixture(scope="module")
def healthy(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RUNS_DIR with one trained run (small_cnn, 1 epoch)."""
    root = tmp_path_factory.mktemp("runs")
    assert main(["train", *TRAIN, "--data-dir", str(idx_dir), "--out", str(root), "--quiet"]) == 0
    return root


def _run(root: Path) -> Path:
    return next(p for p in root.iterdir() if p.is_dir())


def _digest(run: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.iterdir())
        if p.is_file()
    }


def _damage(kind: str, run: Path, tmp: Path) -> str:
    """Damage ``run`` in one way; return the file name the error must name."""
    ckpt, spec, metrics, meta = (
        run / n for n in ("checkpoint.pt", "spec.json", "metrics.json", "meta.json")
    )
    if kind == "checkpoint missing":
        ckpt.unlink()
    elif kind == "checkpoint truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:300])
    elif kind == "checkpoint garbage":
        ckpt.write_bytes(b"\x00not a checkpoint" * 50)
    elif kind == "checkpoint malicious":
        ckpt.write_bytes(_evil_pickle(tmp / MARKER))
    elif kind == "checkpoint of another model":
        state = torch.load(ckpt, weights_only=True)
        state["model"] = {k + "_renamed": v for k, v in state["model"].items()}
        buf = io.BytesIO()
        torch.save(state, buf)
        ckpt.write_bytes(buf.getvalue())
    elif kind == "spec malformed":
        spec.write_text("{not json")
    elif kind == "spec truncated":
        spec.write_text(spec.read_text()[:20])
    elif kind == "spec of another run":
        d = json.loads(spec.read_text())
        d["seed"] = 99
        spec.write_text(json.dumps(d))
    elif kind == "metrics malformed":
        metrics.write_text('{"status": "compl')
    elif kind == "metrics truncated":
        metrics.write_text(metrics.read_text()[:40])
    elif kind == "meta malformed":
        meta.write_text("[[[")
    elif kind == "meta truncated":
        meta.write_text(meta.read_text()[:30])
    return {
        "checkpoint": "checkpoint.pt",
        "spec": "spec.json",
        "metrics": "metrics.json",
        "meta": "meta.json",
    }[kind.split()[0]]


KINDS = ["checkpoint missing", "checkpoint truncated", "checkpoint garbage", "checkpoint malicious",
         "checkpoint of another model", "spec malformed", "spec truncated", "spec of another run",
         "metrics malformed", "metrics truncated", "meta malformed", "meta truncated"]  # fmt: skip


@pytest.fixture
def damaged(healthy: Path, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, str]:
    root = tmp_path / "runs"
    shutil.copytree(healthy, root)
    return root, _damage(request.param, _run(root), tmp_path)


@pytest.mark.parametrize("damaged", KINDS, indirect=True, ids=KINDS)
def test_evaluate_says_what_is_damaged_in_one_line_and_changes_nothing(
    damaged: tuple[Path, str], idx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root, name = damaged
    run = _run(root)
    before = _digest(run)
    code = main(["evaluate", str(run), "--data-dir", str(idx_dir), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert name in err[0] and ("delete" in err[0] or "restore" in err[0]), err[0]
    assert _digest(run) == before  # nothing overwritten
    assert not (tmp_path / MARKER).exists()  # the malicious pickle never ran


@pytest.mark.parametrize("damaged", KINDS, indirect=True, ids=KINDS)
def test_train_and_where_refuse_a_damaged_directory_until_rerun(
    damaged: tuple[Path, str], idx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root, name = damaged
    run = _run(root)
    before = _digest(run)
    args = [*TRAIN, "--data-dir", str(idx_dir), "--out", str(root), "--quiet"]
    if name != "spec.json":  # a wrong spec.json leaves train nothing to recognise
        for cmd in (["train", *args], ["where", *TRAIN, "--out", str(root)]):
            code = main(cmd)
            err = capsys.readouterr().err.strip().splitlines()
            assert code == 2 and len(err) == 1 and name in err[0], (cmd[0], err)
        assert _digest(run) == before
        assert main(["train", *args, "--rerun"]) == 0  # moved aside, trained again
        assert (run / "metrics.json").exists() and list(root.glob(f"{run.name}.replaced-*"))
    assert not (tmp_path / MARKER).exists()


def test_sweep_goes_on_lists_the_damaged_run_and_exits_nonzero(
    idx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text('alphas = [0.0, 1.0]\nseeds = 1\nmodel = "small_cnn"\nepochs = 1\n'
                     "batch_size = 64\nlimit_train = 128\nlimit_test = 64\n")  # fmt: skip
    out = tmp_path / "runs"
    args = ["sweep", str(sweep), "--out", str(out), "--data-dir", str(idx_dir), "--quiet"]
    assert main(args) == 0
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    (runs[0] / "metrics.json").write_text("{broken")
    shutil.rmtree(runs[1])  # the healthy run is retrained
    capsys.readouterr()
    assert main(args) == 1
    text = capsys.readouterr().out
    assert "1 damaged run directories" in text and "metrics.json" in text.splitlines()[-1]
    assert json.loads((runs[1] / "metrics.json").read_text())["status"] == "complete"
    assert (runs[0] / "metrics.json").read_text() == "{broken"  # left as it was
    assert main([*args, "--rerun"]) == 0  # moved aside and redone
    assert list(out.glob(f"{runs[0].name}.replaced-*"))
    from selrob.results.runs import read_runs

    assert [r.run_id for r in read_runs(out)] == [r.name for r in runs]  # not the one aside
    assert main(["check", str(out)]) == 0  # the moved-aside damage is no longer a problem


def test_results_and_report_skip_damaged_runs_with_one_warning_each(
    healthy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from helpers.fake_runs import write_fake_runs

    from selrob import report, results

    root = tmp_path / "runs"
    dirs = write_fake_runs(root, (-1.0, 0.0, 1.0), (0, 1), failed=False)
    (dirs[0] / "metrics.json").write_text("{garbage")
    (dirs[1] / ".metrics.json.abc123.tmp").write_text("half")  # an interrupted write
    with caplog.at_level(logging.WARNING, logger="selrob.results.runs"):
        df = results.load_runs(root)
    warnings = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 1 and dirs[0].name in warnings[0].getMessage()
    assert (df["status"] == "complete").sum() == 5
    doc = report.write_report(root).read_text()
    assert "damaged runs (skipped)</td><td>1</td>" in doc


@pytest.mark.parametrize("damaged", KINDS, indirect=True, ids=KINDS)
def test_check_lists_each_problem_and_exits_nonzero(
    damaged: tuple[Path, str], capsys: pytest.CaptureFixture
) -> None:
    root, name = damaged
    assert main(["check", str(root)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(name in line for line in lines[:-1]), lines
    assert lines[-1] == "checked 1 runs: 0 healthy, 1 with problems"


def test_check_passes_a_healthy_dir_and_reports_stale_locks_and_temp_files(
    healthy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["check", str(healthy)]) == 0
    assert capsys.readouterr().out.strip() == "checked 1 runs: 1 healthy, 0 with problems"
    root = tmp_path / "runs"
    shutil.copytree(healthy, root)
    run = _run(root)
    (run / ".lock").write_text("999999999")  # no such process
    (run / ".checkpoint.pt.x1y2.tmp").write_bytes(b"half")
    (run / "meta.json").write_text("[[[")
    assert main(["check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "stale lock" in out and ".checkpoint.pt.x1y2.tmp" in out and "meta.json" in out
