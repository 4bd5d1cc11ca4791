"""Reading and creating run directories: ``RUNS_DIR/<spec-hash>/`` with spec.json,
checkpoint.pt, metrics.json and meta.json (``docs/metrics-schema.md``).

Names come from :mod:`selrob.paths`; every write is atomic (:mod:`selrob.storage`); nothing
is relative to the current directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from selrob import paths
from selrob.config import TrainSpec, from_dict, spec_hash, to_dict
from selrob.data import DATASETS
from selrob.enums import RunStatus
from selrob.errors import NotARun, OutputNotWritable, RunIncomplete
from selrob.models import MODELS
from selrob.presets import resolve
from selrob.storage import read_json, write_json_atomic
from selrob.train import load_checkpoint, make_model


def run_dir_for(spec: TrainSpec, root: Path) -> tuple[TrainSpec, Path]:
    """Resolve a spec's preset defaults and check it; return it with its run directory."""
    spec = resolve(spec)
    DATASETS.get(spec.dataset)
    MODELS.get(spec.model)
    spec.validate()
    return spec, paths.run_dir(Path(root).expanduser().resolve(), spec_hash(spec))


def load_metrics(run_dir: Path) -> dict[str, Any]:
    """The run's metrics.json ({} before its first epoch)."""
    f = paths.metrics_file(run_dir)
    return read_json(f) if f.exists() else {}


def prepare_dir(run_dir: Path, spec: TrainSpec) -> bool:
    """Create ``run_dir`` with spec.json; return True when it was newly created."""
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        fresh = not run_dir.exists()
        run_dir.mkdir(exist_ok=True)
        probe = paths.write_probe(run_dir)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputNotWritable(
            f"cannot write to {run_dir.parent} ({e.strerror}); pass --out a writable directory"
        ) from None
    spec_path = paths.spec_file(run_dir)
    if spec_path.exists() and read_json(spec_path) != to_dict(spec):
        raise NotARun(f"{spec_path} holds a different spec (hash collision?); move {run_dir} away")
    write_json_atomic(spec_path, to_dict(spec))
    return fresh


def load_run(
    run_dir: Path, device: torch.device | str = "cpu"
) -> tuple[TrainSpec, torch.nn.Module]:
    """The spec and trained model (eval mode) of a finished run."""
    run_dir = Path(run_dir)
    if not paths.spec_file(run_dir).exists():
        raise NotARun(
            f"{run_dir} is not a selrob run (no spec.json); pass a directory made by selrob train"
        )
    spec = from_dict(TrainSpec, read_json(paths.spec_file(run_dir)))
    if load_metrics(run_dir).get("status") != RunStatus.COMPLETE:
        raise RunIncomplete(
            f"{run_dir} has not finished training; rerun selrob train with the same settings to resume"
        )
    model = make_model(spec).to(device)
    model.load_state_dict(load_checkpoint(paths.checkpoint_file(run_dir), device)["model"])
    return spec, model.eval()
