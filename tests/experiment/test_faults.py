"""Faults in the middle of a run: a full or read-only disk, two sweeps on one RUNS_DIR, and
every loader of a file a user may have been handed refusing to run code."""

from __future__ import annotations

import errno
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import selrob.storage as storage
from selrob.cli import main
from selrob.config import Runtime, TrainSpec
from selrob.errors import DamagedRun, MalformedData, OutputNotWritable
from selrob.experiment import ensure_trained, load_run

SPEC = dict(dataset="fashion-mnist", model="small_cnn", epochs=3, batch_size=64, limit_train=192,
            limit_test=64)  # fmt: skip


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def test_full_disk_mid_run_keeps_the_last_checkpoint_and_resumes(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = Runtime(device="cpu", data_dir=str(idx_dir), quiet=True)
    ref = ensure_trained(TrainSpec(**SPEC), tmp_path / "ref", rt).run_dir
    real, calls = storage.write_atomic, {"n": 0}

    def disk_full_at_second_checkpoint(path: Path, write) -> None:  # noqa: ANN001
        if Path(path).name == "checkpoint.pt":
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        real(path, write)

    monkeypatch.setattr(storage, "write_atomic", disk_full_at_second_checkpoint)
    with pytest.raises(OutputNotWritable, match="checkpoint.pt .No space left on device.*resume"):
        ensure_trained(TrainSpec(**SPEC), tmp_path / "full", rt)
    run = next((tmp_path / "full").iterdir())
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1  # previous, intact
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "running" and len(metrics["epochs"]) == 1
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]  # no half-written file
    monkeypatch.setattr(storage, "write_atomic", real)  # space is back
    res = ensure_trained(TrainSpec(**SPEC), tmp_path / "full", rt)
    assert res.action == "resumed" and res.status == "complete"
    for k, v in _weights(ref).items():
        assert torch.equal(v, _weights(run)[k]), k


def test_full_disk_is_one_line_from_the_cli(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def no_space(path: Path, write) -> None:  # noqa: ANN001
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage, "write_atomic", no_space)
    code = main(["train", "--model", "small_cnn", "--epochs", "1", "--limit-train", "64",
                 "--data-dir", str(idx_dir), "--out", str(tmp_path), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0]


TWO_SWEEPS = """
import sys
from pathlib import Path
from selrob.cli import main
sys.exit(main(["sweep", sys.argv[1], "--out", sys.argv[2], "--data-dir", sys.argv[3], "--quiet"]))
"""


def test_two_concurrent_sweeps_never_run_a_run_twice(idx_dir: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        textwrap.dedent("""
        alphas = [-1.0, 0.0, 1.0]
        seeds = 1
        model = "small_cnn"
        epochs = 2
        batch_size = 64
        limit_train = 256
        limit_test = 64
        attacks = ["fgsm"]
    """)
    )
    ref, shared = tmp_path / "ref", tmp_path / "shared"
    assert (
        main(["sweep", str(sweep), "--out", str(ref), "--data-dir", str(idx_dir), "--quiet"]) == 0
    )
    cmd = [sys.executable, "-c", TWO_SWEEPS, str(sweep), str(shared), str(idx_dir)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    summaries = [o.strip().splitlines()[-1] for o, _ in outs]
    trained = sum(int(s.split("(")[1].split(" complete")[0]) if " complete" in s else 0
                  for s in summaries)  # fmt: skip
    assert trained == 3, summaries  # each run trained (and evaluated) by exactly one sweep
    from selrob import results

    a, b = results.load_runs(ref), results.load_runs(shared)
    drop = [c for c in a.columns if "seconds" in c]
    assert a.drop(columns=drop).astype(str).equals(b.drop(columns=drop).astype(str))


def test_a_run_another_sweep_finished_after_the_first_look_counts_as_skipped(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race CI met: sweep A looks (run not done), sweep B trains and evaluates it, then A
    takes the lock and finds nothing to do; A must say ``skipped``, not ``complete``."""
    import selrob.sweep.run as sweep_run
    from selrob.config import EvalSpec
    from selrob.enums import RunStatus

    rt = Runtime(device="cpu", data_dir=str(idx_dir), quiet=True)
    spec, ev = TrainSpec(**SPEC), EvalSpec(limit_test=64, attacks=("fgsm",))
    assert sweep_run.run_one(spec, ev, str(tmp_path), rt, None)["status"] == RunStatus.COMPLETE
    monkeypatch.setattr(sweep_run, "load_metrics", lambda run_dir: {})  # A's stale first look
    assert sweep_run.run_one(spec, ev, str(tmp_path), rt, None)["status"] == RunStatus.SKIPPED
    run_dir = sweep_run.run_dir_for(spec, tmp_path)[1]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["evaluation"]["_done"] = {}  # every evaluation section missing again
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    assert sweep_run.run_one(spec, ev, str(tmp_path), rt, None)["status"] == RunStatus.COMPLETE


def test_a_run_directory_appears_whole_and_a_lost_race_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes starting one run: the directory is renamed into place with its spec.json
    (never seen empty), the loser uses the winner's, and no temporary directory is left."""
    import selrob.experiment.rundir as rundir

    spec, run_dir = rundir.run_dir_for(TrainSpec(**SPEC), tmp_path)
    real_rename = os.rename

    def other_process_wins(src: str, dst: str) -> None:
        assert json.loads((Path(src) / "spec.json").read_text())["model"] == "small_cnn"
        run_dir.mkdir()  # the other process's directory, renamed into place first
        (run_dir / "spec.json").write_text((Path(src) / "spec.json").read_text())
        real_rename(src, dst)

    monkeypatch.setattr(rundir.os, "rename", other_process_wins)
    assert rundir.prepare_dir(run_dir, spec) is False  # lost: not this call's directory
    assert [p.name for p in tmp_path.iterdir()] == [run_dir.name]
    assert [p.name for p in run_dir.iterdir()] == ["spec.json"]
    monkeypatch.undo()
    spec2, run2 = rundir.run_dir_for(TrainSpec(**{**SPEC, "alpha": 1.0}), tmp_path)
    assert rundir.prepare_dir(run2, spec2) is True  # won: this call's directory
    plain = tmp_path / "plain"
    plain.mkdir()  # the mode a directory gets from the umask, not mkdtemp's 0700
    assert run2.stat().st_mode == plain.stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([run_dir.name, run2.name, "plain"])


class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.target, "w"))


def test_every_loader_refuses_a_planted_pickle(idx_dir: Path, tmp_path: Path) -> None:
    """Checkpoints (evaluate, resume) and CIFAR-10 python batches: the pickle never runs."""
    marker = tmp_path / "marker"
    payload = pickle.dumps({"model": _Evil(marker), "data": _Evil(marker)})
    rt = Runtime(device="cpu", data_dir=str(idx_dir), quiet=True)
    run = ensure_trained(TrainSpec(**{**SPEC, "epochs": 1}), tmp_path / "runs", rt).run_dir
    (run / "checkpoint.pt").write_bytes(payload)
    with pytest.raises(DamagedRun, match="refused to load"):
        load_run(run)  # what selrob evaluate loads
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "status": "running"}))
    with pytest.raises(DamagedRun, match="refused to load"):
        ensure_trained(TrainSpec(**{**SPEC, "epochs": 1}), tmp_path / "runs", rt)  # resume
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (cifar / name).write_bytes(payload)
    from selrob.data import load_dataset

    with pytest.raises(MalformedData, match="refused to unpickle"):
        load_dataset("cifar10", "test", tmp_path)
    assert not marker.exists()
    np.testing.assert_equal(os.path.exists(marker), False)
