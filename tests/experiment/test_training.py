"""ensure_trained through the CLI and the API: idempotence, resume after SIGKILL, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from selrob.cli import main
from selrob.config import Runtime, TrainSpec
from selrob.experiment import ensure_trained

FAST = dict(dataset="fashion-mnist", model="small_cnn", epochs=3, batch_size=64, lr=0.05)


def _spec(**kw: object) -> TrainSpec:
    return TrainSpec(**{**FAST, **kw})  # type: ignore[arg-type]


def _strip(metrics: dict) -> dict:
    return {
        **metrics,
        "epochs": [{k: v for k, v in e.items() if k != "seconds"} for e in metrics["epochs"]],
    }


def test_same_seed_same_metrics_and_rerun_is_noop(idx_dir: Path, tmp_path: Path) -> None:
    rt = Runtime(device="cpu", data_dir=str(idx_dir))
    a = ensure_trained(_spec(alpha=-1.0), tmp_path / "a", rt)
    b = ensure_trained(_spec(alpha=-1.0), tmp_path / "b", rt)
    assert a.action == "trained" and a.status == "complete"
    assert _strip(a.metrics) == _strip(b.metrics)
    again = ensure_trained(_spec(alpha=-1.0), tmp_path / "a", rt)
    assert again.action == "skipped"
    c = ensure_trained(_spec(alpha=-1.0, seed=1), tmp_path / "a", rt)
    assert _strip(c.metrics) != _strip(a.metrics)


def test_resume_after_sigkill_equals_uninterrupted(idx_dir: Path, tmp_path: Path) -> None:
    args = ["train", "--dataset", "fashion-mnist", "--model", "small_cnn", "--epochs", "4", "--batch-size", "32",
            "--alpha", "2", "--data-dir", str(idx_dir), "--device", "cpu", "--quiet"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "ref")]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "selrob", *args, "--out", str(tmp_path / "killed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    # metrics.json is written after each epoch's checkpoint: once it exists, an epoch is saved
    while time.time() < deadline and not list((tmp_path / "killed").glob("*/metrics.json")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = next((tmp_path / "killed").glob("*/"))
    epochs_done = len(json.loads((run / "metrics.json").read_text())["epochs"])
    assert 1 <= epochs_done < 4, "the kill should land mid-run"
    assert main([*args, "--out", str(tmp_path / "killed")]) == 0
    ref = next((tmp_path / "ref").glob("*/"))
    assert ref.name == run.name
    w_ref = torch.load(ref / "checkpoint.pt", weights_only=True)["model"]
    w_res = torch.load(run / "checkpoint.pt", weights_only=True)["model"]
    for k in w_ref:
        assert torch.equal(w_ref[k], w_res[k]), k
    m_ref = json.loads((ref / "metrics.json").read_text())
    m_res = json.loads((run / "metrics.json").read_text())
    assert _strip(m_ref) == _strip(m_res)


def test_nonfinite_loss_marks_run_failed(
    idx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(["train", "--model", "small_cnn", "--epochs", "2", "--alpha", "1e38", "--lr", "1",
                 "--data-dir", str(idx_dir), "--out", str(tmp_path), "--quiet"])  # fmt: skip
    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "non-finite" in err[0]
    (metrics,) = [json.loads(p.read_text()) for p in tmp_path.glob("*/metrics.json")]
    assert metrics["status"] == "failed" and "non-finite" in metrics["reason"]


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--dataset", "imagenet"], "unknown dataset"),
        (["--model", "vgg"], "unknown model"),
        (["--epochs", "0"], "epochs"),
        (["--alpha", "nan"], "finite"),
    ],
)
def test_bad_input_one_line_no_run_dir(
    extra: list[str], match: str, idx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        ["train", "--data-dir", str(idx_dir), "--out", str(tmp_path / "runs"), "--quiet", *extra]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and match in err[0], err
    assert not list((tmp_path / "runs").glob("*/")) if (tmp_path / "runs").exists() else True


def test_missing_data_and_unwritable_out(
    tmp_path: Path, idx_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        [
            "train",
            "--data-dir",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "runs"),
            "--quiet",
            "--epochs",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "dataset-fashion-mnist" in err and str(tmp_path / "nowhere") in err
    assert not list((tmp_path / "runs").glob("*/"))  # nothing half-written
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(
        [
            "train",
            "--data-dir",
            str(idx_dir),
            "--out",
            str(blocker / "runs"),
            "--quiet",
            "--epochs",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "writable" in err and len(err.strip().splitlines()) == 1
