"""``selrob check RUNS_DIR``: every run directory verified, one line per problem.

A run is healthy when its spec.json is readable and hashes to the directory's name, its
metrics.json and meta.json are readable, a complete run's checkpoint loads with
``weights_only=True`` into the spec's model and has every epoch, and (when RUNS_DIR holds a
sweep.json) its evaluation holds every section of the sweep with the sweep's parameters.
Stale locks and the temp files of interrupted writes are reported too. Nothing is changed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from selrob import paths
from selrob.config import EvalSpec, from_dict
from selrob.enums import RunStatus
from selrob.errors import NoRuns, SelrobError
from selrob.experiment.evaluation import plan
from selrob.experiment.lock import lock_state
from selrob.experiment.rundir import load_metrics, read_meta, read_spec
from selrob.probe_spec import ProbeSpec
from selrob.storage import read_json
from selrob.train import load_checkpoint, load_weights, make_model


@dataclass(frozen=True)
class Problem:
    """One problem of one run directory: the file, what is wrong, and the fix (in ``what``)."""

    run: str
    what: str

    def line(self) -> str:
        return f"{self.run}: {self.what}"


def _sweep_eval_spec(root: Path) -> EvalSpec | None:
    f = paths.sweep_file(root)
    if not f.is_file():
        return None
    try:  # sweep.json is the flat form of a sweep: the EvalSpec fields are among its keys
        flat = read_json(f)
        names = {field.name for field in dataclasses.fields(EvalSpec)}
        return from_dict(EvalSpec, {k: v for k, v in flat.items() if k in names})
    except (SelrobError, AttributeError):
        return None  # a damaged sweep.json is reported by check_runs itself


def check_run(run_dir: Path, eval_spec: EvalSpec | None = None) -> list[Problem]:
    """Every problem of one run directory ([] when healthy)."""
    name, out = run_dir.name, []
    try:
        spec = read_spec(run_dir)
        metrics = load_metrics(run_dir)
    except SelrobError as e:
        return [Problem(name, str(e))]
    try:
        read_meta(run_dir)
    except SelrobError as e:
        out.append(Problem(name, str(e)))
    status = metrics.get("status")
    ckpt = paths.checkpoint_file(run_dir)
    if isinstance(spec, ProbeSpec):  # a probe keeps no checkpoint: its model is the user's
        pass
    elif status == RunStatus.COMPLETE or ckpt.exists():
        try:
            state = load_checkpoint(ckpt, "cpu")
            load_weights(make_model(spec), state["model"], ckpt)
            if status == RunStatus.COMPLETE and int(state["epoch"]) != spec.epochs:
                out.append(Problem(name, f"{ckpt} holds {state['epoch']} of {spec.epochs} epochs "
                                         "but metrics.json says complete; delete the directory "
                                         "(or rerun with --rerun) to retrain it"))  # fmt: skip
        except SelrobError as e:
            out.append(Problem(name, str(e)))
    if status == RunStatus.COMPLETE and eval_spec is not None:
        done = metrics.get("evaluation", {}).get("_done", {})
        missing = [s for s, p in plan(eval_spec).items() if done.get(s) != p]
        if missing:
            out.append(Problem(name, f"{paths.metrics_file(run_dir)}: evaluation lacks "
                                     f"{', '.join(missing)} for the sweep's settings; rerun the "
                                     "sweep to complete it"))  # fmt: skip
    if lock_state(run_dir) == "stale":
        out.append(Problem(name, f"{paths.lock_file(run_dir)}: stale lock (its process is gone); "
                                 "the next run takes it over, or delete it"))  # fmt: skip
    for tmp in sorted(p for p in run_dir.iterdir() if paths.is_temp_file(p)):
        out.append(Problem(name, f"{tmp}: left by an interrupted write; delete it "
                                 "(the file it was replacing is intact)"))  # fmt: skip
    return out


def check_runs(root: Path) -> tuple[int, list[Problem]]:
    """``(runs checked, problems)`` of every run directory of ``root`` (a subdirectory named
    like a spec hash; runs moved aside by ``--rerun`` are not checked)."""
    root = Path(root)
    if not root.is_dir():
        raise NoRuns(f"RUNS_DIR {root} does not exist; pass a directory made by selrob sweep")
    eval_spec = _sweep_eval_spec(root)
    problems = []
    if paths.sweep_file(root).is_file() and eval_spec is None:
        problems.append(Problem("sweep.json", f"{paths.sweep_file(root)}: not a readable sweep; "
                                "rerun the sweep to rewrite it"))  # fmt: skip
    runs = [d for d in sorted(root.iterdir()) if d.is_dir() and paths.is_run_dir(d)]
    if not runs:
        raise NoRuns(f"RUNS_DIR {root} has no runs; run selrob sweep SWEEP.toml --out {root} first")
    for d in runs:
        problems += check_run(d, eval_spec)
    return len(runs), problems
