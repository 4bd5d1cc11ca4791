"""Idempotent training: :func:`ensure_trained` trains a spec unless its run already finished.

A run directory is named by its spec's hash; rerunning a finished spec is a no-op, an
interrupted one resumes from its last checkpoint, a failed one keeps its reason in
metrics.json. A run that fails before its first epoch (missing data, bad settings) leaves no
directory behind.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selrob import paths
from selrob.config import Runtime, TrainSpec
from selrob.devices import resolve_device
from selrob.enums import RunStatus
from selrob.errors import DamagedRun, RunFailed, RunLocked
from selrob.experiment.lock import RunLock
from selrob.experiment.provenance import provenance
from selrob.experiment.rundir import (
    load_metrics,
    move_aside,
    prepare_dir,
    read_meta,
    read_spec,
    run_dir_for,
)
from selrob.storage import write_json_atomic
from selrob.train import load_checkpoint, load_weights, make_model, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """Where a run lives and what ``ensure_trained`` did with it."""

    run_dir: Path
    status: RunStatus  # complete, or running when training stopped early
    action: str  # trained | resumed | skipped
    metrics: dict[str, Any]


def check_existing(run_dir: Path, *, rerun: bool = False) -> dict[str, Any]:
    """The metrics of an existing run directory, checked: DamagedRun when its files are
    damaged, RunFailed when it failed before. With ``rerun`` such a directory is moved aside
    (``<hash>.replaced-<time>``, nothing deleted) and {} is returned, so the run starts again."""
    if not run_dir.exists():
        return {}
    try:
        spec = read_spec(run_dir)
        metrics = load_metrics(run_dir)
        read_meta(run_dir)
        if metrics.get("status") == RunStatus.COMPLETE:  # its weights must still load
            ckpt = paths.checkpoint_file(run_dir)
            load_weights(make_model(spec), load_checkpoint(ckpt, "cpu")["model"], ckpt)
        if metrics.get("status") == RunStatus.FAILED:
            raise RunFailed(f"{run_dir} failed before: {metrics.get('reason')}; rerun with "
                            "--rerun (or delete the directory) to try again")  # fmt: skip
        return metrics
    except (DamagedRun, RunFailed) as e:
        if not rerun:
            raise
        log.warning("%s; moved it to %s and starting again", e, move_aside(run_dir).name)
        return {}


def ensure_trained(
    spec: TrainSpec, root: Path, runtime: Runtime = Runtime(), *, progress: bool = False,
    rerun: bool = False, then: Callable[[Path], None] | None = None,
) -> RunResult:  # fmt: skip
    """Train ``spec`` under ``root`` unless already finished; resume if interrupted.

    Raises RunFailed (exit code 3) when the loss becomes non-finite; metrics.json then has
    ``status: failed`` and the reason. A damaged or failed directory is an error unless
    ``rerun``, which moves it aside and trains again. Training holds the run's lock
    (RunLocked when another live process holds it). ``then(run_dir)``, when given, runs under
    the same lock once the run is complete (also when it was complete before), so no other
    process can take the run between its training and what follows (a sweep's evaluation).
    """
    spec, run_dir = run_dir_for(spec, root)
    metrics = check_existing(run_dir, rerun=rerun)
    if metrics.get("status") == RunStatus.COMPLETE and then is None:
        return RunResult(run_dir, RunStatus.COMPLETE, "skipped", metrics)
    device = resolve_device(runtime.device)
    fresh = prepare_dir(run_dir, spec)

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
            if (m := load_metrics(run_dir)).get(
                "status"
            ) == RunStatus.COMPLETE:  # finished meanwhile
                result = RunResult(run_dir, RunStatus.COMPLETE, "skipped", m)
            else:
                action = "resumed" if paths.checkpoint_file(run_dir).exists() else "trained"
                write_json_atomic(paths.meta_file(run_dir), provenance(device))
                records = train(spec, run_dir, device, runtime.data_dir, progress=progress,
                                on_epoch=persist)  # fmt: skip
                done = len(records) >= (spec.epochs or 0)
                status = RunStatus.COMPLETE if done else RunStatus.RUNNING
                result = RunResult(run_dir, status, action, persist(records, status))
            if then is not None and result.status == RunStatus.COMPLETE:
                then(run_dir)  # still under the lock
    except RunLocked:
        raise  # another process owns the directory: leave it exactly as it is
    except RunFailed as e:
        persist(list(load_metrics(run_dir).get("epochs", [])), RunStatus.FAILED, str(e))
        raise
    except BaseException:
        if fresh and not paths.checkpoint_file(run_dir).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return result
