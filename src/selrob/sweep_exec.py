"""Running a sweep: every alpha x seed run trained and evaluated, locally or on Ray.

Each run is :func:`run_one`: ``ensure_trained`` then ``ensure_evaluated`` with the sweep's
evaluation, both idempotent, so rerunning a sweep skips finished runs, resumes interrupted
ones from their last epoch checkpoint (and a half-done evaluation from its last finished
section), and a sweep killed at any moment loses at most the current epoch of its in-flight
runs. A run that fails (non-finite loss, any exception) is recorded and the others go on.
Errors that would fail every run alike (missing dataset, unwritable output) stop the sweep.

Executors: ``local`` runs one run at a time in this process (each using every core), or
``jobs`` at a time in spawned worker processes (cores split between them); ``ray`` sends each
run to a Ray task (a local Ray, or an existing cluster given by ``ray_address``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from selrob import errors, paths
from selrob.config import EvalSpec, Runtime, TrainSpec
from selrob.errors import DatasetNotFound, InvalidArgument, OutputNotWritable, SelrobError
from selrob.experiment import ensure_evaluated, ensure_trained, load_metrics, run_dir_for
from selrob.io import write_json_atomic
from selrob.sweep import Sweep

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
_FATAL = (DatasetNotFound, OutputNotWritable)  # the same for every run: stop the sweep


@dataclass(frozen=True)
class RunRecord:
    """What happened to one run of a sweep."""

    run_dir: Path
    alpha: float
    seed: int
    status: str  # complete | skipped | failed
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
        return tuple(r for r in self.runs if r.status == "failed")

    @property
    def ok(self) -> bool:
        """True when no run failed."""
        return not self.failed


def run_sweep(
    sweep: Sweep,
    out: Path,
    runtime: Runtime | None = None,
    executor: str = "local",
    jobs: int = 1,
    ray_address: str | None = None,
    progress: bool = False,
    on_event: Callable[[RunRecord], None] | None = None,
) -> SweepReport:
    """Train and evaluate every run of ``sweep`` under ``out``; ``on_event`` sees each finished run.

    Settings are checked for every run before anything is written; ``out/sweep.json`` keeps a
    copy of the definition. ``jobs`` runs that many at a time (local: worker processes; ray:
    each task asks for ``cores // jobs`` CPUs, or ``runtime.threads`` when set).
    """
    if executor not in EXECUTORS:
        raise InvalidArgument(f"unknown executor {executor!r}; choose local or ray")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvalidArgument(f"jobs must be an integer >= 1, got {jobs!r}")
    if ray_address and executor != "ray":
        raise InvalidArgument("a Ray address needs the ray executor; add --executor ray")
    ray = _import_ray() if executor == "ray" else None
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
    threads = runtime.threads or (
        max(1, _cores() // jobs) if jobs > 1 or executor == "ray" else None
    )
    records: list[RunRecord | None] = [None] * len(specs)
    bar = tqdm(total=len(specs), desc=sweep.name, unit="run", disable=not progress)

    def done(i: int, result: dict[str, Any]) -> None:
        if result.get("fatal"):
            cls = getattr(errors, result["fatal"], SelrobError)
            raise cls(result["error"])
        spec = specs[i]
        rec = RunRecord(
            dirs[i], spec.alpha, spec.seed, result["status"], result["error"], result["seconds"]
        )
        records[i] = rec
        if rec.status == "failed":
            log.warning("run alpha=%g seed=%d failed: %s", rec.alpha, rec.seed, rec.error)
        bar.update(1)
        bar.set_postfix(failed=sum(r is not None and r.status == "failed" for r in records))
        if on_event is not None:
            on_event(rec)

    args = [(s, sweep.eval_spec, str(out), runtime, threads) for s in specs]
    try:
        if executor == "ray":
            _run_ray(ray, args, done, ray_address, threads or 1, runtime.device)
        elif jobs == 1:
            _run_inline(args, done, progress)
        else:
            _run_pool(args, done, jobs)
    finally:
        bar.close()
    return SweepReport(sweep.name, out, tuple(r for r in records if r is not None))


def _check(sweep: Sweep, out: Path) -> tuple[list[TrainSpec], list[Path]]:
    """Validate every run and the evaluation before anything runs; return specs and run dirs."""
    from selrob.data import dataset_info
    from selrob.evaluate import SECTIONS, expand_corruptions

    specs = sweep.runs()
    try:
        dirs = [run_dir_for(s, out)[1] for s in specs]
        SECTIONS(sweep.eval_spec)
        expand_corruptions(sweep.eval_spec.corruptions, dataset_info(sweep.base.dataset).channels)
    except SelrobError as e:
        raise type(e)(f"sweep {sweep.name!r}: {e}") from None
    return specs, dirs


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- one run


def run_one(
    spec: TrainSpec,
    eval_spec: EvalSpec,
    out: str,
    runtime: Runtime,
    threads: int | None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train and evaluate one run; never raises: returns {status, error, seconds[, fatal]}."""
    t0 = time.perf_counter()
    if threads:
        torch.set_num_threads(threads)
    try:
        status, error = _train_and_evaluate(spec, eval_spec, Path(out), runtime, progress), None
    except _FATAL as e:
        return {"status": "failed", "error": str(e), "seconds": 0.0, "fatal": type(e).__name__}
    except SelrobError as e:
        status, error = "failed", str(e)
    except Exception as e:  # noqa: BLE001 - a crashing run must not stop the sweep
        log.exception("run alpha=%g seed=%d crashed", spec.alpha, spec.seed)
        status, error = "failed", f"{type(e).__name__}: {e}"
    return {"status": status, "error": error, "seconds": time.perf_counter() - t0}


def _train_and_evaluate(
    spec: TrainSpec, eval_spec: EvalSpec, out: Path, runtime: Runtime, progress: bool
) -> str:
    from selrob.evaluate import SECTIONS

    _, run_dir = run_dir_for(spec, out)
    metrics = load_metrics(run_dir)
    done = metrics.get("evaluation", {}).get("_done", {})
    if metrics.get("status") == "complete" and all(
        done.get(s) == p for s, p in SECTIONS(eval_spec).items()
    ):
        return "skipped"
    res = ensure_trained(spec, out, runtime, progress=progress)
    if res.status != "complete":
        raise SelrobError(f"{res.run_dir} stopped before its last epoch; rerun the sweep to resume")
    ensure_evaluated(res.run_dir, eval_spec, runtime, progress=progress)
    return "complete"


# --------------------------------------------------------------------------- local executors

Args = tuple[TrainSpec, EvalSpec, str, Runtime, "int | None"]


def _run_inline(
    args: list[Args], done: Callable[[int, dict[str, Any]], None], progress: bool
) -> None:
    """One run after another in this process (torch's thread count restored afterwards)."""
    before = torch.get_num_threads()
    try:
        for i, a in enumerate(args):
            done(i, run_one(*a, progress=progress))
    finally:
        torch.set_num_threads(before)


def _run_pool(args: list[Args], done: Callable[[int, dict[str, Any]], None], jobs: int) -> None:
    """``jobs`` runs at a time in spawned processes that die with this one."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
    )
    try:
        pending = {pool.submit(run_one, *a): i for i, a in enumerate(args)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as e:  # noqa: BLE001 - a worker died (killed, out of memory)
                    result = _failed(f"worker process died ({type(e).__name__}: {e}); {_POOL_HINT}")
                done(i, result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_POOL_HINT = (
    "rerun to resume; a script calling run_sweep with jobs > 1 needs `if __name__ == '__main__':`"
)


def _failed(error: str) -> dict[str, Any]:
    return {"status": "failed", "error": error, "seconds": 0.0}


def _worker_init(parent: int) -> None:
    """Make a worker exit when the sweep process dies (even by SIGKILL), so a restarted sweep
    does not find its runs locked by orphans: PR_SET_PDEATHSIG on Linux, else a watcher thread."""
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


# --------------------------------------------------------------------------- Ray executor

RAY_CONNECT_TIMEOUT_S = 20.0


def _run_ray(
    ray: Any,
    args: list[Args],
    done: Callable[[int, dict[str, Any]], None],
    address: str | None,
    cpus: int,
    device: str,
) -> None:
    """One Ray task per run (``cpus`` CPUs each, and one GPU when ``device`` means CUDA)."""
    gpus = 1 if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()) else 0
    with _ray_session(ray, address, _cores()):
        have = ray.cluster_resources()
        if have.get("CPU", 0) < cpus or have.get("GPU", 0) < gpus:
            raise SelrobError(
                f"the Ray cluster has {have.get('CPU', 0):g} CPUs and {have.get('GPU', 0):g} GPUs but a run asks for "
                f"{cpus} CPUs and {gpus} GPU; lower --threads / raise --jobs, or use --device cpu"
            )
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(run_one)
        pending = {task.remote(*a): i for i, a in enumerate(args)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except Exception as e:  # noqa: BLE001 - the worker died or Ray failed the task
                    result = _failed(f"Ray task failed: {type(e).__name__}: {_first_line(e)}")
                done(i, result)
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SelrobError("Ray is not installed; pip install selrob[ray]") from None
    return ray


@contextlib.contextmanager
def _ray_session(ray: Any, address: str | None, cores: int) -> Iterator[None]:
    """Connect to ``address`` (failing within ~25 s if it does not answer) or start a local Ray;
    shut down on exit what this call started. A Ray already initialised by the caller is reused."""
    if ray.is_initialized():
        yield
        return
    if address:
        _probe(address)
        _init_with_timeout(ray, address)
    else:
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _probe(address: str) -> None:
    """TCP-connect to ``host:port`` of a Ray address (``ray://`` too); SelrobError if nobody answers."""
    import socket

    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and the like: left to ray.init (under its timeout)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise SelrobError(
            f"no Ray cluster answers at {address} ({e.strerror or e}); start one with `ray start --head` or fix --ray-address"
        ) from None


def _init_with_timeout(ray: Any, address: str) -> None:
    """``ray.init(address=...)`` in a thread, so a cluster that never answers cannot hang the sweep."""
    import threading

    box: dict[str, BaseException] = {}

    def connect() -> None:
        try:
            ray.init(address=address, log_to_driver=False)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=connect, daemon=True, name="selrob-ray-init")
    t.start()
    t.join(RAY_CONNECT_TIMEOUT_S)
    if t.is_alive():
        raise SelrobError(
            f"the Ray cluster at {address} did not answer within {RAY_CONNECT_TIMEOUT_S:g} s; check --ray-address"
        )
    if "error" in box:
        raise SelrobError(
            f"cannot connect to the Ray cluster at {address}: {_first_line(box['error'])}; check --ray-address"
        ) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
