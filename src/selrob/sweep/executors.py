"""Running a sweep: every alpha x seed run trained and evaluated, locally or on Ray.

Each run is :func:`selrob.sweep.run.run_one`: ``ensure_trained`` then ``ensure_evaluated``,
both idempotent, so rerunning a sweep skips finished runs, resumes interrupted ones from
their last epoch checkpoint (and a half-done evaluation from its last finished section), and
a sweep killed at any moment loses at most the current epoch of its in-flight runs. A run that
fails (non-finite loss, any exception) is recorded and the others go on; errors that would
fail every run alike (missing dataset, unwritable output) stop the sweep.

Executors: ``local`` runs one run at a time in this process (each using every core), or
``jobs`` at a time in spawned worker processes (cores split between them); ``ray`` sends each
run to a Ray task (:mod:`selrob.sweep.ray`: a local Ray, or an existing cluster).

Packing on GPUs: ``jobs`` counts runs at a time *per device*. Each worker process is bound to
one device slot (:func:`device_slots`), so ``--jobs 4`` on a machine with two GPUs keeps four
runs on each; on Ray each task asks for ``1 / jobs`` of a GPU. Packing several processes on a
device leaves every run's numbers as they are (each process runs the same code as a lone run);
``tests/sweep/test_executors.py`` checks packed runs equal separate ones, weight for weight.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from selrob import paths
from selrob.config import EvalSpec, Runtime, TrainSpec
from selrob.data import DATASETS
from selrob.devices import cpu_cores, resolve_device
from selrob.enums import RunStatus
from selrob.errors import InvalidArgument, OutputNotWritable, SelrobError
from selrob.experiment import plan, run_dir_for
from selrob.perturb.corruptions import resolve_corruptions
from selrob.storage import write_json_atomic
from selrob.sweep import Sweep
from selrob.sweep.ray import import_ray, run_ray
from selrob.sweep.run import FATAL, failed, run_one

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
Args = tuple[TrainSpec, EvalSpec, str, Runtime, "int | None", bool, bool]  # run_one positional args


@dataclass(frozen=True)
class RunRecord:
    """What happened to one run of a sweep."""

    run_dir: Path
    alpha: float
    seed: int
    status: RunStatus  # complete | skipped | failed
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class SweepReport:
    """Every run of a sweep, in the sweep's order (seed-major)."""

    name: str
    out: Path
    runs: tuple[RunRecord, ...]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.runs)

    @property
    def failed(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.runs if r.status == RunStatus.FAILED)

    @property
    def damaged(self) -> tuple[RunRecord, ...]:
        """Runs whose directories are damaged (each with the message naming the fix)."""
        return tuple(r for r in self.runs if r.status == RunStatus.DAMAGED)

    @property
    def ok(self) -> bool:
        """True when no run failed and no run directory is damaged."""
        return not self.failed and not self.damaged


def device_slots(device: str, jobs: int, gpus: int | None = None) -> list[str]:
    """The device of each worker process: ``jobs`` per device.

    ``device`` is the runtime's choice (auto, cpu, cuda, cuda:N); ``gpus`` the visible CUDA
    devices (default: counted). 'auto' or 'cuda' with several GPUs spreads the workers over all
    of them, ``cuda:N`` keeps them on GPU N; on a CPU every slot is the CPU. E.g.
    ``device_slots("cuda", 2, gpus=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]`` (runs go
    to whichever worker is free, so the order only spreads the first ones).
    """
    gpus = torch.cuda.device_count() if gpus is None else gpus
    if device in ("auto", "cuda") and gpus > 0:
        return [f"cuda:{g}" for _ in range(jobs) for g in range(gpus)]
    return ["cpu" if device == "auto" else device] * jobs  # no GPU: 'cuda' fails in the run


def default_jobs(runtime: Runtime) -> int:
    """Runs at a time when none is asked: two on a multi-core CPU (one thread each gives more
    throughput for these small models than one run on two threads; ``benchmarks/``), one per
    GPU (packing more is ``--jobs N``; not yet measured on a GPU, see docs/performance.md)."""
    if resolve_device(runtime.device).type != "cpu":
        return 1
    return 2 if cpu_cores() >= 2 else 1


def run_sweep(
    sweep: Sweep,
    out: Path,
    runtime: Runtime | None = None,
    executor: str = "local",
    jobs: int = 1,
    ray_address: str | None = None,
    progress: bool = False,
    on_event: Callable[[RunRecord], None] | None = None,
    *,
    rerun: bool = False,
    retries: int = 2,
) -> SweepReport:
    """Train and evaluate every run of ``sweep`` under ``out``; ``on_event`` sees each finished run.

    Settings are checked for every run before anything is written; ``out/sweep.json`` keeps a
    copy of the definition. ``jobs`` runs that many at a time per device (local: worker
    processes, see :func:`device_slots`; ray: each task asks for ``cores // jobs`` CPUs, or
    ``runtime.threads`` when set, and ``1 / jobs`` of a GPU on CUDA). A run whose
    directory is damaged is reported (status ``damaged``) and the others go on; ``rerun``
    moves damaged and failed runs aside and trains them again. Runs another live process
    holds (a second sweep on the same RUNS_DIR) are waited for and then re-checked, so no run
    is trained or evaluated twice. ``retries``: Ray task retries after a worker dies.
    """
    if executor not in EXECUTORS:
        raise InvalidArgument(f"unknown executor {executor!r}; choose local or ray")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvalidArgument(f"jobs must be an integer >= 1, got {jobs!r}")
    if ray_address and executor != "ray":
        raise InvalidArgument("a Ray address needs the ray executor; add --executor ray")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidArgument(f"retries must be an integer >= 0, got {retries!r}")
    ray = import_ray(ray_address) if executor == "ray" else None
    runtime = runtime or Runtime()
    out = Path(out).expanduser().resolve()
    specs, dirs = _check(sweep, out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(paths.sweep_file(out), sweep.to_dict())
    except OSError as e:
        raise OutputNotWritable(
            f"cannot write to {out} ({e.strerror}); pass --out a writable directory"
        ) from None
    slots = device_slots(runtime.device, jobs) if executor == "local" else [runtime.device]
    threads = runtime.threads or (
        max(1, cpu_cores() // len(slots)) if len(slots) > 1 or executor == "ray" else None
    )
    records: list[RunRecord | None] = [None] * len(specs)
    bar = tqdm(total=len(specs), desc=sweep.name, unit="run", disable=not progress)

    def done(i: int, result: dict[str, Any]) -> None:
        if result.get("fatal"):
            raise FATAL.get(result["fatal"], SelrobError)(result["error"])
        spec = specs[i]
        rec = RunRecord(dirs[i], spec.alpha, spec.seed, RunStatus(result["status"]),
                        result["error"], result["seconds"])  # fmt: skip
        records[i] = rec
        if rec.status == RunStatus.BUSY:
            return  # not finished: run_sweep comes back to it
        if rec.status in (RunStatus.FAILED, RunStatus.DAMAGED):
            log.warning("run alpha=%g seed=%d %s: %s", rec.alpha, rec.seed, rec.status, rec.error)
        bar.update(1)
        bar.set_postfix(failed=sum(r is not None and r.status == RunStatus.FAILED for r in records))
        if on_event is not None:
            on_event(rec)

    args = [(s, sweep.eval_spec, str(out), runtime, threads, False, rerun) for s in specs]

    def execute(todo: list[int]) -> None:
        chosen = [args[i] for i in todo]
        remap = lambda k, result: done(todo[k], result)  # noqa: E731 - back to sweep indices
        if executor == "ray":
            run_ray(ray, chosen, remap, ray_address, threads or 1, runtime.device, retries, jobs)
        elif len(slots) == 1:
            _run_inline(chosen, remap, progress)
        else:
            _run_pool(chosen, remap, slots)

    try:
        execute(list(range(len(specs))))
        _wait_for_busy(records, execute)
    finally:
        bar.close()
    return SweepReport(sweep.name, out, tuple(r for r in records if r is not None))


BUSY_POLL_S = 2.0


def _wait_for_busy(records: list[RunRecord | None], execute: Callable[[list[int]], None]) -> None:
    """Runs held by another live process: wait until their locks are free, then run them
    again (they are then usually complete, and skipped)."""
    from selrob.experiment.lock import lock_state

    while busy := [
        i for i, r in enumerate(records) if r is not None and r.status == RunStatus.BUSY
    ]:
        free = [i for i in busy if lock_state(records[i].run_dir) != "held"]
        if free:
            execute(free)
        else:
            time.sleep(BUSY_POLL_S)


def _check(sweep: Sweep, out: Path) -> tuple[list[TrainSpec], list[Path]]:
    """Validate every run and the evaluation before anything runs; return specs and run dirs."""
    specs = sweep.runs()
    try:
        dirs = [run_dir_for(s, out)[1] for s in specs]
        plan(sweep.eval_spec)
        resolve_corruptions(sweep.eval_spec.corruptions, DATASETS.get(sweep.base.dataset).channels)
    except SelrobError as e:
        raise type(e)(f"sweep {sweep.name!r}: {e}") from None
    return specs, dirs


# --------------------------------------------------------------------------- local executors


def _run_inline(
    args: list[Args], done: Callable[[int, dict[str, Any]], None], progress: bool
) -> None:
    """One run after another in this process (torch's thread count restored afterwards)."""
    before = torch.get_num_threads()
    try:
        for i, a in enumerate(args):
            done(i, run_one(*a[:5], progress, *a[6:]))  # this process: show its bars
    finally:
        torch.set_num_threads(before)


def _run_pool(
    args: list[Args], done: Callable[[int, dict[str, Any]], None], slots: list[str]
) -> None:
    """One run per slot at a time, in spawned processes (each bound to its slot's device) that
    die with this one."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    free = ctx.SimpleQueue()  # each new worker takes one device slot at start-up
    for slot in slots:
        free.put(slot)
    pool = ProcessPoolExecutor(
        max_workers=len(slots), mp_context=ctx, initializer=_worker_init,
        initargs=(os.getpid(), free),
    )  # fmt: skip
    try:
        pending = {pool.submit(_run_in_slot, *a): i for i, a in enumerate(args)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as e:  # noqa: BLE001 - a worker died (killed, out of memory)
                    result = failed(f"worker process died ({type(e).__name__}: {e}); {_POOL_HINT}")
                done(i, result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_POOL_HINT = (
    "rerun to resume; a script calling run_sweep with jobs > 1 needs `if __name__ == '__main__':`"
)


_SLOT: str | None = None
"""The device this worker process runs on (set once by :func:`_worker_init`)."""


def _run_in_slot(spec: TrainSpec, eval_spec: EvalSpec, out: str, runtime: Runtime,
                 *rest: Any) -> dict[str, Any]:  # fmt: skip
    """:func:`run_one` on this worker's device slot."""
    if _SLOT is not None:
        runtime = dataclasses.replace(runtime, device=_SLOT)
    return run_one(spec, eval_spec, out, runtime, *rest)


def _worker_init(parent: int, free: Any = None) -> None:
    """Take a device slot, and make this worker exit when the sweep process dies (even by
    SIGKILL), so a restarted sweep does not find its runs locked by orphans: PR_SET_PDEATHSIG
    on Linux, else a watcher thread."""
    global _SLOT
    if free is not None:
        _SLOT = free.get()
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL) == 0 and os.getppid() == parent:  # 1 = PR_SET_PDEATHSIG
            return
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
