"""One run of a sweep, as every executor runs it: ``ensure_trained`` then ``ensure_evaluated``.

:func:`run_one` never raises: it returns ``{status, error, seconds[, fatal]}``, so a crashing
run cannot stop the sweep. Errors that would fail every run alike (missing dataset, unwritable
output) carry ``fatal`` with their class name, and the sweep stops on them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from selrob.config import EvalSpec, Runtime, TrainSpec
from selrob.devices import keep_freed_memory
from selrob.enums import RunStatus
from selrob.errors import (
    DamagedRun,
    DatasetNotFound,
    OutputNotWritable,
    RunIncomplete,
    RunLocked,
    SelrobError,
)
from selrob.experiment import ensure_trained, load_metrics, run_dir_for
from selrob.experiment.evaluation import evaluate_missing, is_evaluated

log = logging.getLogger(__name__)

FATAL: dict[str, type[SelrobError]] = {c.__name__: c for c in (DatasetNotFound, OutputNotWritable)}
"""Errors that are the same for every run: the sweep stops on the first one."""


def failed(error: str) -> dict[str, Any]:
    """The result of a run that failed for ``error`` (e.g. its worker process died)."""
    return {"status": RunStatus.FAILED, "error": error, "seconds": 0.0}


def run_one(
    spec: TrainSpec,
    eval_spec: EvalSpec,
    out: str,
    runtime: Runtime,
    threads: int | None,
    progress: bool = False,
    rerun: bool = False,
) -> dict[str, Any]:
    """Train and evaluate one run; never raises: returns {status, error, seconds[, fatal]}.

    Status ``damaged`` when the run directory's files are damaged, ``busy`` when another live
    process holds the run (the executor comes back to it), ``failed`` for any other error.
    """
    t0 = time.perf_counter()
    keep_freed_memory()  # this is a selrob worker (or the CLI): reuse freed activation memory
    if threads:
        torch.set_num_threads(threads)
    try:
        status = _train_and_evaluate(spec, eval_spec, Path(out), runtime, progress, rerun)
        error = None
    except tuple(FATAL.values()) as e:
        return {**failed(str(e)), "fatal": type(e).__name__}
    except RunLocked as e:
        status, error = RunStatus.BUSY, str(e)
    except DamagedRun as e:
        status, error = RunStatus.DAMAGED, str(e)
    except SelrobError as e:
        status, error = RunStatus.FAILED, str(e)
    except Exception as e:  # noqa: BLE001 - a crashing run must not stop the sweep
        log.exception("run alpha=%g seed=%d crashed", spec.alpha, spec.seed)
        status, error = RunStatus.FAILED, f"{type(e).__name__}: {e}"
    return {"status": status, "error": error, "seconds": time.perf_counter() - t0}


def _train_and_evaluate(
    spec: TrainSpec, eval_spec: EvalSpec, out: Path, runtime: Runtime, progress: bool,
    rerun: bool,
) -> RunStatus:  # fmt: skip
    _, run_dir = run_dir_for(spec, out)
    metrics = load_metrics(run_dir) if not rerun else {}
    if metrics.get("status") == RunStatus.COMPLETE and is_evaluated(metrics, eval_spec):
        return RunStatus.SKIPPED
    # training and evaluation run under one hold of the run's lock, and re-check under it what
    # is left to do, so two sweeps on one RUNS_DIR never train or evaluate the same run twice
    ran: list[str] = []

    def evaluate(run_dir: Path) -> None:
        ran.extend(evaluate_missing(run_dir, eval_spec, runtime, progress=progress)[1])

    res = ensure_trained(spec, out, runtime, progress=progress, rerun=rerun, then=evaluate)
    if res.status != RunStatus.COMPLETE:
        raise RunIncomplete(
            f"{res.run_dir} stopped before its last epoch; rerun the sweep to resume"
        )
    if res.action == "skipped" and not ran:  # another sweep finished it after the look above
        return RunStatus.SKIPPED
    return RunStatus.COMPLETE
