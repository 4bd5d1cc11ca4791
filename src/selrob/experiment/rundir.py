"""Reading and creating run directories: ``RUNS_DIR/<spec-hash>/`` with spec.json,
checkpoint.pt, metrics.json and meta.json (``docs/metrics-schema.md``).

Every reader checks what it reads and raises :class:`~selrob.errors.DamagedRun` naming the
file, what is wrong and the fix, so a copied, pruned or half-synced directory is one clear
line, never a traceback; readers change nothing. Names come from :mod:`selrob.paths`; every
write is atomic (:mod:`selrob.storage`); nothing is relative to the current directory.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import torch

from selrob import paths
from selrob.config import TrainSpec, from_dict, spec_hash, to_dict
from selrob.data import DATASETS
from selrob.enums import RunStatus
from selrob.errors import (
    DamagedRun,
    InvalidArgument,
    NotARun,
    OutputNotWritable,
    RunIncomplete,
    SelrobError,
)
from selrob.models import MODELS
from selrob.presets import resolve
from selrob.probe_spec import ProbeSpec
from selrob.storage import read_json, write_json_atomic
from selrob.train import load_checkpoint, load_weights, make_model

FIX = "delete the run directory (or rerun with --rerun) to start it again"


def run_dir_for(spec: TrainSpec, root: Path) -> tuple[TrainSpec, Path]:
    """Resolve a spec's preset defaults and check it; return it with its run directory."""
    spec = resolve(spec)
    DATASETS.get(spec.dataset)
    MODELS.get(spec.model)
    spec.validate()
    return spec, paths.run_dir(Path(root).expanduser().resolve(), spec_hash(spec))


def _json(path: Path, fix: str) -> Any:
    try:
        return read_json(path)
    except SelrobError as e:
        raise DamagedRun(f"{e}".replace("restore or delete the file", fix)) from None
    except OSError as e:
        raise DamagedRun(f"{path}: unreadable ({e.strerror or e}); {fix}") from None


def read_spec(run_dir: Path) -> TrainSpec | ProbeSpec:
    """The run's spec (a ProbeSpec for a probe's directory); DamagedRun when spec.json is
    missing, malformed, or names another run."""
    path = paths.spec_file(run_dir)
    if not path.is_file():
        raise NotARun(f"{run_dir} is not a selrob run (no spec.json); pass a directory made by "
                      "selrob train or selrob sweep")  # fmt: skip
    raw = _json(path, FIX)
    if not isinstance(raw, dict):
        raise DamagedRun(f"{path}: not a JSON object; {FIX}")
    try:
        spec = from_dict(ProbeSpec if "model_source" in raw else TrainSpec, raw)
    except SelrobError as e:
        raise DamagedRun(f"{path}: {e}; {FIX}") from None
    if spec_hash(spec) != Path(run_dir).name:
        raise DamagedRun(f"{path} describes run {spec_hash(spec)}, not {Path(run_dir).name} (its "
                         "directory name); restore that spec.json, or move the directory to "
                         f"{spec_hash(spec)} if the spec is right")  # fmt: skip
    return spec


def load_metrics(run_dir: Path) -> dict[str, Any]:
    """The run's metrics.json ({} before its first epoch); DamagedRun when it is malformed."""
    f = paths.metrics_file(run_dir)
    if not f.exists():
        return {}
    fix = "delete metrics.json and rerun the same command to resume from the checkpoint"
    m = _json(f, fix)
    if not isinstance(m, dict) or ("status" in m and m["status"] not in tuple(RunStatus)):
        raise DamagedRun(
            f"{f}: not a selrob metrics file (status {m.get('status') if isinstance(m, dict) else m!r}); {fix}"
        )
    return m


def read_meta(run_dir: Path) -> dict[str, Any]:
    """The run's meta.json ({} when absent); DamagedRun when it is malformed.

    meta.json only records provenance, but a damaged one means the directory was damaged (a
    truncated copy, say), so readers stop rather than trust its other files."""
    f = paths.meta_file(run_dir)
    if not f.exists():
        return {}
    fix = "restore it or delete it (it records provenance only; no result depends on it)"
    m = _json(f, fix)
    if not isinstance(m, dict):
        raise DamagedRun(f"{f}: not a JSON object; {fix}")
    return m


def move_aside(run_dir: Path) -> Path:
    """Rename a damaged or failed run directory to ``<name>.replaced-<time>`` (nothing deleted)."""
    target = run_dir.with_name(f"{run_dir.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        run_dir.rename(target)
    except OSError as e:
        raise OutputNotWritable(
            f"cannot move {run_dir} aside ({e.strerror}); move it yourself"
        ) from None
    return target


def prepare_dir(run_dir: Path, spec: TrainSpec) -> bool:
    """Create ``run_dir`` with spec.json; return True when this call created it.

    The directory is built beside its place and renamed into it, so no other process ever
    sees a run directory without its spec.json (two sweeps on one RUNS_DIR start the same
    run at once: one rename wins, the other finds the winner's directory)."""
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        if not run_dir.exists() and _create(run_dir, spec):
            return True  # built here with its spec.json: writable, and the spec is ours
        probe = paths.write_probe(run_dir)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputNotWritable(
            f"cannot write to {run_dir.parent} ({e.strerror}); pass --out a writable directory"
        ) from None
    spec_path = paths.spec_file(run_dir)
    if spec_path.exists():
        if _json(spec_path, FIX) != to_dict(spec):
            raise DamagedRun(
                f"{spec_path} holds a different spec than its directory name says; {FIX}"
            )
        return False
    write_json_atomic(spec_path, to_dict(spec))  # a directory a user (or older selrob) made
    return False


def _create(run_dir: Path, spec: TrainSpec) -> bool:
    """Build ``run_dir`` holding spec.json in a temporary directory beside it and rename it into
    place; False when another process's directory got there first."""
    tmp = paths.building_run_dir(run_dir, uuid.uuid4().hex[:8])
    tmp.mkdir()  # not tempfile.mkdtemp: its mode 0700 would outlive the rename
    try:
        write_json_atomic(paths.spec_file(tmp), to_dict(spec))
        os.rename(tmp, run_dir)  # atomic; fails when run_dir exists and is not empty
        return True
    except OSError as e:
        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename succeeded


def load_run(
    run_dir: Path, device: torch.device | str = "cpu"
) -> tuple[TrainSpec, torch.nn.Module]:
    """The spec and trained model (eval mode) of a finished run."""
    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    read_meta(run_dir)
    if isinstance(spec, ProbeSpec):
        raise InvalidArgument(f"{run_dir} is a probe of {spec.label}; measure it again with "
                              "selrob probe and the same model")  # fmt: skip
    if load_metrics(run_dir).get("status") != RunStatus.COMPLETE:
        raise RunIncomplete(
            f"{run_dir} has not finished training; rerun selrob train with the same settings to resume"
        )
    model = make_model(spec).to(device)
    ckpt_path = paths.checkpoint_file(run_dir)
    load_weights(model, load_checkpoint(ckpt_path, device)["model"], ckpt_path)
    return spec, model.eval()
