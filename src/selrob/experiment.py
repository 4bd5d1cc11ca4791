"""Idempotent orchestration: ``ensure_trained`` and ``ensure_evaluated``.

The only module that decides what is persisted. A run directory is named by its spec's hash;
rerunning a finished spec is a no-op, an interrupted one resumes from its last checkpoint, a
failed one keeps its reason in metrics.json. All writes are atomic. Paths come from
:mod:`selrob.paths`; nothing is relative to the current directory.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from selrob import paths
from selrob.config import EvalSpec, Runtime, TrainSpec, from_dict, spec_hash, to_dict
from selrob.errors import InvalidArgument, OutputNotWritable, RunFailed, SelrobError
from selrob.io import read_json, write_json_atomic
from selrob.presets import resolve
from selrob.provenance import provenance
from selrob.train import make_model, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """Where a run lives and what ``ensure_trained`` did with it."""

    run_dir: Path
    status: str  # complete | failed
    action: str  # trained | resumed | skipped
    metrics: dict[str, Any]


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidArgument(
            f"device {name!r} requested but CUDA is not available; use --device cpu or auto"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise InvalidArgument(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None


def validate(spec: TrainSpec) -> None:
    """Range checks a spec must pass before anything is written."""
    from selrob.data import DATASETS
    from selrob.models import MODELS

    DATASETS.get(spec.dataset)
    MODELS.get(spec.model)
    checks = [
        (spec.epochs is not None and spec.epochs >= 1, "epochs must be >= 1"),
        (spec.batch_size is not None and spec.batch_size >= 2, "batch size must be >= 2"),
        (spec.lr is not None and spec.lr > 0, "learning rate must be > 0"),
        (spec.width > 0, "width must be > 0"),
        (spec.limit_train is None or spec.limit_train >= 2, "limit_train must be >= 2"),
        (spec.limit_test is None or spec.limit_test >= 1, "limit_test must be >= 1"),
        (spec.schedule in ("step", "cosine"), "schedule must be step or cosine"),
        (all(map(_finite, [spec.alpha, spec.lr or 1.0])), "alpha and lr must be finite"),
    ]
    for ok, msg in checks:
        if not ok:
            raise InvalidArgument(msg)


def _finite(v: float) -> bool:
    return v == v and v not in (float("inf"), float("-inf"))


def run_dir_for(spec: TrainSpec, root: Path) -> tuple[TrainSpec, Path]:
    """Resolve a spec's preset defaults; return it with its run directory."""
    spec = resolve(spec)
    validate(spec)
    return spec, paths.run_dir(Path(root).expanduser().resolve(), spec_hash(spec))


def load_metrics(run_dir: Path) -> dict[str, Any]:
    f = paths.metrics_file(run_dir)
    return read_json(f) if f.exists() else {}


def _prepare_dir(run_dir: Path, spec: TrainSpec) -> bool:
    """Create ``run_dir`` with spec.json; return True when it was newly created."""
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        fresh = not run_dir.exists()
        run_dir.mkdir(exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputNotWritable(
            f"cannot write to {run_dir.parent} ({e.strerror}); pass --out a writable directory"
        ) from None
    spec_path = paths.spec_file(run_dir)
    if spec_path.exists() and read_json(spec_path) != to_dict(spec):
        raise SelrobError(
            f"{spec_path} holds a different spec (hash collision?); move {run_dir} away"
        )
    write_json_atomic(spec_path, to_dict(spec))
    return fresh


class _Lock:
    """An exclusive lock file holding the owner's pid; stale locks of dead processes are taken over."""

    def __init__(self, run_dir: Path) -> None:
        self.path = paths.lock_file(run_dir)

    def __enter__(self) -> _Lock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                return self
            except FileExistsError:
                try:
                    pid = int(self.path.read_text() or 0)
                    os.kill(pid, 0)
                    if _is_zombie(pid):
                        raise ProcessLookupError
                except (ValueError, ProcessLookupError, FileNotFoundError):
                    self.path.unlink(missing_ok=True)  # stale: owner is gone
                    continue
                except PermissionError:
                    pass
                raise SelrobError(
                    f"{self.path.parent} is being trained by process {pid}; wait for it or kill it"
                ) from None
        raise SelrobError(
            f"cannot take the lock {self.path}; remove it if no selrob process is running"
        )

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _is_zombie(pid: int) -> bool:
    """A killed process not yet reaped still answers kill(pid, 0); /proc says it is dead (Z)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def ensure_trained(
    spec: TrainSpec,
    root: Path,
    runtime: Runtime = Runtime(),
    *,
    progress: bool = False,
    stop_after: int | None = None,
) -> RunResult:
    """Train ``spec`` under ``root`` unless already finished; resume if interrupted.

    Raises RunFailed (exit code 3) when the loss becomes non-finite; metrics.json then has
    ``status: failed`` and the reason. A run that fails before its first epoch (missing data,
    bad settings) leaves no directory behind.
    """
    spec, run_dir = run_dir_for(spec, root)
    metrics = load_metrics(run_dir)
    if metrics.get("status") == "complete":
        return RunResult(run_dir, "complete", "skipped", metrics)
    if metrics.get("status") == "failed":
        raise RunFailed(
            f"{run_dir} failed before: {metrics.get('reason')}; delete the directory to retry"
        )
    device = resolve_device(runtime.device)
    fresh = _prepare_dir(run_dir, spec)
    action = "resumed" if paths.checkpoint_file(run_dir).exists() else "trained"
    write_json_atomic(paths.meta_file(run_dir), provenance(device))

    def persist(
        records: list[dict[str, Any]], status: str = "running", reason: str | None = None
    ) -> dict[str, Any]:
        m = {"status": status, "reason": reason, "epochs": records}
        if records:
            m["test_accuracy"] = records[-1]["test_accuracy"]
            m["mean_selectivity"] = records[-1]["mean_selectivity"]
        write_json_atomic(paths.metrics_file(run_dir), m)
        return m

    try:
        with _Lock(run_dir):
            records = train(
                spec,
                run_dir,
                device,
                runtime.data_dir,
                progress=progress,
                on_epoch=persist,
                stop_after=stop_after,
            )
    except RunFailed as e:
        persist(_records_so_far(run_dir), "failed", str(e))
        raise
    except BaseException:
        if fresh and not paths.checkpoint_file(run_dir).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    done = len(records) >= (spec.epochs or 0)
    return RunResult(
        run_dir,
        "complete" if done else "running",
        action,
        persist(records, "complete" if done else "running"),
    )


def _records_so_far(run_dir: Path) -> list[dict[str, Any]]:
    return list(load_metrics(run_dir).get("epochs", []))


def load_run(run_dir: Path, device: torch.device) -> tuple[TrainSpec, torch.nn.Module]:
    """The spec and trained model (eval mode) of a finished run."""
    run_dir = Path(run_dir)
    if not paths.spec_file(run_dir).exists():
        raise SelrobError(
            f"{run_dir} is not a selrob run (no spec.json); pass a directory made by selrob train"
        )
    spec = from_dict(TrainSpec, read_json(paths.spec_file(run_dir)))
    if load_metrics(run_dir).get("status") != "complete":
        raise SelrobError(
            f"{run_dir} has not finished training; rerun selrob train with the same settings to resume"
        )
    model = make_model(spec).to(device)
    ckpt = torch.load(paths.checkpoint_file(run_dir), map_location=device, weights_only=True)
    model.load_state_dict(ckpt["model"])
    return spec, model.eval()


def ensure_evaluated(
    run_dir: Path, spec: EvalSpec, runtime: Runtime = Runtime(), *, progress: bool = False
) -> dict[str, Any]:
    """Run every evaluation ``spec`` asks for that is not already stored; persist into metrics.json."""
    from selrob.evaluate import SECTIONS, evaluate_sections

    run_dir = Path(run_dir)
    device = resolve_device(runtime.device)
    train_spec, model = load_run(run_dir, device)
    metrics = load_metrics(run_dir)
    evaluation = dict(metrics.get("evaluation", {}))
    done = evaluation.get("_done", {})
    todo = [s for s, params in SECTIONS(spec).items() if done.get(s) != params]
    if not todo:
        log.info("%s: already evaluated with these settings", run_dir)
        return evaluation

    def persist(section: str, params: Any, results: dict[str, Any]) -> None:
        evaluation.update(results)
        evaluation.setdefault("_done", {})[section] = params
        evaluation["spec"] = to_dict(spec)
        write_json_atomic(
            paths.metrics_file(run_dir), {**load_metrics(run_dir), "evaluation": evaluation}
        )

    evaluate_sections(model, train_spec, spec, todo, device, runtime, persist, progress=progress)
    return evaluation


def eval_spec_with(spec: EvalSpec, **changes: Any) -> EvalSpec:
    return dataclasses.replace(spec, **changes)
