"""Idempotent training: :func:`ensure_trained` trains a spec unless its run already finished.

A run directory is named by its spec's hash; rerunning a finished spec is a no-op, an
interrupted one resumes from its last checkpoint, a failed one keeps its reason in
metrics.json. A run that fails before its first epoch (missing data, bad settings) leaves no
directory behind.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selrob import paths
from selrob.config import Runtime, TrainSpec
from selrob.devices import resolve_device
from selrob.enums import RunStatus
from selrob.errors import RunFailed
from selrob.experiment.lock import RunLock
from selrob.experiment.provenance import provenance
from selrob.experiment.rundir import load_metrics, prepare_dir, run_dir_for
from selrob.storage import write_json_atomic
from selrob.train import train


@dataclass(frozen=True)
class RunResult:
    """Where a run lives and what ``ensure_trained`` did with it."""

    run_dir: Path
    status: RunStatus  # complete, or running when training stopped early
    action: str  # trained | resumed | skipped
    metrics: dict[str, Any]


def ensure_trained(
    spec: TrainSpec, root: Path, runtime: Runtime = Runtime(), *, progress: bool = False
) -> RunResult:
    """Train ``spec`` under ``root`` unless already finished; resume if interrupted.

    Raises RunFailed (exit code 3) when the loss becomes non-finite; metrics.json then has
    ``status: failed`` and the reason.
    """
    spec, run_dir = run_dir_for(spec, root)
    metrics = load_metrics(run_dir)
    if metrics.get("status") == RunStatus.COMPLETE:
        return RunResult(run_dir, RunStatus.COMPLETE, "skipped", metrics)
    if metrics.get("status") == RunStatus.FAILED:
        raise RunFailed(
            f"{run_dir} failed before: {metrics.get('reason')}; delete the directory to retry"
        )
    device = resolve_device(runtime.device)
    fresh = prepare_dir(run_dir, spec)
    action = "resumed" if paths.checkpoint_file(run_dir).exists() else "trained"
    write_json_atomic(paths.meta_file(run_dir), provenance(device))

    def persist(records: list[dict[str, Any]], status: RunStatus = RunStatus.RUNNING,
                reason: str | None = None) -> dict[str, Any]:  # fmt: skip
        m: dict[str, Any] = {"status": status, "reason": reason, "epochs": records}
        if records:
            m["test_accuracy"] = records[-1]["test_accuracy"]
            m["mean_selectivity"] = records[-1]["mean_selectivity"]
        write_json_atomic(paths.metrics_file(run_dir), m)
        return m

    try:
        with RunLock(run_dir):
            records = train(spec, run_dir, device, runtime.data_dir, progress=progress,
                            on_epoch=persist)  # fmt: skip
    except RunFailed as e:
        persist(list(load_metrics(run_dir).get("epochs", [])), RunStatus.FAILED, str(e))
        raise
    except BaseException:
        if fresh and not paths.checkpoint_file(run_dir).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    status = RunStatus.COMPLETE if len(records) >= (spec.epochs or 0) else RunStatus.RUNNING
    return RunResult(run_dir, status, action, persist(records, status))
