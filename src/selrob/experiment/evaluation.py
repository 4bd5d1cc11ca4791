"""Idempotent evaluation: :func:`ensure_evaluated` runs every section a spec asks for that is
not already stored with the same parameters, and persists each as soon as it is done.

An interrupted evaluation keeps its finished sections; ``metrics.json``'s ``evaluation._done``
records each section's parameters (:mod:`.sections`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from selrob import paths
from selrob.config import EvalSpec, Runtime, to_dict
from selrob.data import load_dataset
from selrob.devices import resolve_device
from selrob.experiment.lock import RunLock
from selrob.experiment.rundir import load_metrics, load_run
from selrob.experiment.sections import SECTIONS, Context, check_names
from selrob.storage import write_json_atomic

log = logging.getLogger(__name__)


def plan(spec: EvalSpec) -> dict[str, Any]:
    """{section: the parameters its result depends on}, for the sections ``spec`` asks for.

    Checks the spec first (ranges and names), so a bad spec fails before anything runs.
    """
    spec.validate()
    check_names(spec)
    return {name: SECTIONS.get(name).params(spec) for name in SECTIONS.names()
            if SECTIONS.get(name).asked(spec)}  # fmt: skip


def is_evaluated(metrics: dict[str, Any], spec: EvalSpec) -> bool:
    """Whether ``metrics`` already hold every section of ``spec`` with the same parameters."""
    done = metrics.get("evaluation", {}).get("_done", {})
    return all(done.get(s) == p for s, p in plan(spec).items())


def ensure_evaluated(
    run_dir: Path, spec: EvalSpec, runtime: Runtime = Runtime(), *, progress: bool = False
) -> dict[str, Any]:
    """Run every evaluation ``spec`` asks for that is not already stored; persist into metrics.json."""
    return evaluate_missing(run_dir, spec, runtime, progress=progress)[0]


def evaluate_missing(
    run_dir: Path, spec: EvalSpec, runtime: Runtime = Runtime(), *, progress: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """:func:`ensure_evaluated`, also returning the sections this call ran (decided under the
    run's lock, so a sweep can tell its own work from another process's)."""
    run_dir = Path(run_dir)
    todo_plan = plan(spec)
    device = resolve_device(runtime.device)
    train_spec, model = load_run(run_dir, device)
    with RunLock(run_dir):  # one evaluator (or trainer) of a run at a time
        evaluation = dict(load_metrics(run_dir).get("evaluation", {}))
        done = evaluation.get("_done", {})
        todo = [s for s, params in todo_plan.items() if done.get(s) != params]
        if not todo:
            log.info("%s: already evaluated with these settings", run_dir)
            return evaluation, []
        test = load_dataset(train_spec.dataset, "test", runtime.data_dir).subset(spec.limit_test)
        ctx = Context(model, train_spec, spec, test, device, progress)
        return run_sections(run_dir, ctx, todo, todo_plan, evaluation), todo


def run_sections(run_dir: Path, ctx: Context, todo: list[str], todo_plan: dict[str, Any],
                 evaluation: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Run the sections ``todo`` on ``ctx`` and persist each into metrics.json (merged with what
    is there) as soon as it is done; returns the evaluation record."""
    spec = ctx.spec
    for section in todo:
        evaluation.update(SECTIONS.get(section).run(ctx))
        evaluation.setdefault("_done", {})[section] = todo_plan[section]
        evaluation["spec"] = to_dict(spec)
        write_json_atomic(paths.metrics_file(run_dir),
                          {**load_metrics(run_dir), "evaluation": evaluation})  # fmt: skip
    return evaluation
