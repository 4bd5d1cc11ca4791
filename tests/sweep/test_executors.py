"""Running sweeps locally: resume after SIGKILL, failures isolated, sweep-wide errors first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.sweeps import (
    TINY,
    assert_same_runs,
    metrics_without_timings,
    tiny_runtime,
)

from selrob.config import Runtime, TrainSpec
from selrob.errors import DatasetNotFound, InvalidArgument
from selrob.sweep import (
    sweep_from_dict,
)
from selrob.sweep.executors import device_slots, run_sweep
from selrob.sweep.ray import gpu_share

KILLED_SWEEP = """
import sys
from pathlib import Path
from selrob.config import Runtime
from selrob.sweep import sweep_from_dict
from selrob.sweep.executors import run_sweep
run_sweep(sweep_from_dict({tiny!r}), Path({out!r}), Runtime(device="cpu", data_dir={data!r}, quiet=True, threads=1), jobs=2)
"""


def _lock_pids(root: Path) -> list[int]:
    pids = []
    for p in root.glob("*/.lock"):
        try:
            pids.append(int(p.read_text()))
        except (FileNotFoundError, ValueError):  # released, or being written this instant
            pass
    return pids


def _exists(pid: int) -> bool:
    """True while ``pid`` is running or a zombie not yet reaped (the run lock counts both as alive)."""
    return Path(f"/proc/{pid}").exists()


def test_sigkilled_sweep_resumes_to_the_uninterrupted_result(
    idx_dir: Path, tmp_path: Path, reference: Path
) -> None:
    out = tmp_path / "killed"
    script = KILLED_SWEEP.format(tiny=TINY, out=str(out), data=str(idx_dir))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("*/checkpoint.pt")):
        time.sleep(0.05)
    locks = _lock_pids(out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    status = [json.loads(p.read_text())["status"] for p in out.glob("*/metrics.json")]
    assert status.count("complete") < 2, "the kill should land mid-sweep"
    assert json.loads((out / "sweep.json").read_text()) == sweep_from_dict(TINY).to_dict()
    # the worker processes die with the sweep (and get reaped by init), so no run stays locked
    assert locks, "the workers should hold their runs' locks"
    if Path("/proc").is_dir():
        deadline = time.time() + 15
        while time.time() < deadline and any(_exists(pid) for pid in locks):
            time.sleep(0.05)
        assert not any(_exists(pid) for pid in locks), "orphaned workers outlived the sweep"

    events: list[Any] = []
    report = run_sweep(sweep_from_dict(TINY), out, tiny_runtime(idx_dir), on_event=events.append)
    assert [r.status for r in report.runs] == ["complete", "complete"], report
    assert sorted(e.alpha for e in events) == [-1.0, 1.0]
    assert_same_runs(reference, out)
    again = run_sweep(sweep_from_dict(TINY), out, tiny_runtime(idx_dir))
    assert [r.status for r in again.runs] == ["skipped", "skipped"]


def test_packed_runs_equal_separate_runs(idx_dir: Path, tmp_path: Path, reference: Path) -> None:
    """Two runs at a time in two worker processes (two slots of one device) give the same
    weights and metrics as the same runs one after another."""
    report = run_sweep(sweep_from_dict(TINY), tmp_path, tiny_runtime(idx_dir), jobs=2)
    assert [r.status for r in report.runs] == ["complete", "complete"]
    assert_same_runs(reference, tmp_path)


def test_device_slots_put_jobs_on_every_device() -> None:
    assert device_slots("cpu", 3, gpus=2) == ["cpu"] * 3
    assert device_slots("auto", 2, gpus=0) == ["cpu", "cpu"]
    assert device_slots("auto", 2, gpus=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert device_slots("cuda", 1, gpus=3) == ["cuda:0", "cuda:1", "cuda:2"]
    assert device_slots("cuda:1", 3, gpus=2) == ["cuda:1"] * 3
    assert device_slots("cuda", 2, gpus=0) == ["cuda", "cuda"]  # the run then says: no CUDA


def test_ray_tasks_share_a_gpu_by_jobs() -> None:
    assert gpu_share("cuda", 4, cuda=True) == 0.25
    assert gpu_share("cuda:0", 1, cuda=False) == 1.0  # the cluster's nodes may have GPUs
    assert gpu_share("auto", 2, cuda=True) == 0.5
    assert gpu_share("auto", 2, cuda=False) == 0.0
    assert gpu_share("cpu", 2, cuda=True) == 0.0


def test_failed_run_does_not_stop_the_others(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import selrob.sweep.run as sx

    real = sx.ensure_trained

    def crash_on_alpha_3(spec: TrainSpec, *a: Any, **k: Any) -> Any:
        if spec.alpha == 3.0:
            raise RuntimeError("boom")
        return real(spec, *a, **k)

    monkeypatch.setattr(sx, "ensure_trained", crash_on_alpha_3)
    sweep = sweep_from_dict(
        {**TINY, "epochs": 1, "alphas": [1e39, 3.0, 0.0]}
    )  # 1e39: a non-finite loss
    report = run_sweep(sweep, tmp_path, tiny_runtime(idx_dir))
    assert [(r.alpha, r.status) for r in report.runs] == [
        (1e39, "failed"),
        (3.0, "failed"),
        (0.0, "complete"),
    ]
    assert (
        "non-finite" in (report.runs[0].error or "")
        and report.runs[1].error == "RuntimeError: boom"
    )
    assert not report.ok and len(report.failed) == 2 and report.count("complete") == 1
    good = metrics_without_timings(report.runs[2].run_dir)
    assert good["status"] == "complete" and good["evaluation"]["n_test"] == 64
    assert metrics_without_timings(report.runs[0].run_dir)["status"] == "failed"


def test_sweep_wide_errors_stop_before_running(idx_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="sweep 'sweep': epochs must be >= 1"):
        run_sweep(sweep_from_dict({**TINY, "epochs": 0}), tmp_path / "a", tiny_runtime(idx_dir))
    with pytest.raises(InvalidArgument, match="unknown corruption"):
        run_sweep(
            sweep_from_dict({**TINY, "corruptions": ["smog"]}),
            tmp_path / "a",
            tiny_runtime(idx_dir),
        )
    assert not (tmp_path / "a").exists()  # nothing written
    with pytest.raises(InvalidArgument, match="unknown executor 'slurm'"):
        run_sweep(sweep_from_dict(TINY), tmp_path / "a", tiny_runtime(idx_dir), executor="slurm")
    with pytest.raises(InvalidArgument, match="jobs must be"):
        run_sweep(sweep_from_dict(TINY), tmp_path / "a", tiny_runtime(idx_dir), jobs=0)
    with pytest.raises(
        DatasetNotFound
    ):  # the same for every run: raised once, not recorded per run
        run_sweep(
            sweep_from_dict(TINY),
            tmp_path / "b",
            Runtime(device="cpu", data_dir=str(tmp_path / "nowhere")),
        )
    assert not [p for p in (tmp_path / "b").glob("*/")]
