"""Subcommands on one run: ``train``, ``where``, ``evaluate`` (flags -> specs -> experiment -> print).

Library imports happen inside the commands, so ``selrob --help`` stays fast and torch-free.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from selrob.cli._common import Subcommand, add_rerun, add_runs_dir, add_runtime, runtime
from selrob.cli.flags import add_arguments, from_args
from selrob.config import EvalSpec, TrainSpec


def _train(ns: argparse.Namespace) -> int:
    from selrob.experiment import ensure_trained

    rt = runtime(ns)
    res = ensure_trained(from_args(TrainSpec, ns), Path(ns.out), rt, progress=not rt.quiet,
                         rerun=ns.rerun)  # fmt: skip
    if res.action == "skipped":
        print(f"already finished, nothing to do: {res.run_dir}")
    m = res.metrics
    print(f"run: {res.run_dir}")
    print(f"status: {res.status}  test accuracy: {m.get('test_accuracy', float('nan')):.4f}  "
          f"mean selectivity: {m.get('mean_selectivity', float('nan')):.4f}")  # fmt: skip
    return 0


def _where(ns: argparse.Namespace) -> int:
    from selrob.errors import RunFailed
    from selrob.experiment import run_dir_for
    from selrob.experiment.training import check_existing

    _, run_dir = run_dir_for(from_args(TrainSpec, ns), Path(ns.out))
    try:
        check_existing(run_dir)  # an existing directory must be readable (DamagedRun names why)
    except RunFailed:
        pass  # a failed run is where it is
    print(run_dir)
    return 0


def _evaluate(ns: argparse.Namespace) -> int:
    from selrob.experiment import ensure_evaluated

    rt = runtime(ns)
    ev = ensure_evaluated(Path(ns.run_dir), from_args(EvalSpec, ns), rt, progress=not rt.quiet)
    print(f"run: {ns.run_dir}")
    print(f"clean accuracy: {ev['clean_accuracy']:.4f} (n={ev['n_test']})  "
          f"mean selectivity: {ev['selectivity']['mean']:.4f}")  # fmt: skip
    for layer, v in ev["selectivity"]["per_layer"].items():
        print(f"  {layer:12s} selectivity {v:.4f}")
    if "mean_corrupted_accuracy" in ev and ev.get("corruptions"):
        print(f"mean corrupted accuracy: {ev['mean_corrupted_accuracy']:.4f}  "
              f"(drop from clean {ev['corruption_drop']:.4f})")  # fmt: skip
    for r in ev.get("attacks", []):
        print(
            f"  {r['attack']:5s} {r['norm']:4s} eps={r['epsilon']:.4f}  accuracy {r['accuracy']:.4f}"
        )
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    add_arguments(p, TrainSpec)
    add_rerun(p)
    add_runtime(p)
    add_runs_dir(p, flag=True, default="runs")


def _where_args(p: argparse.ArgumentParser) -> None:
    add_arguments(p, TrainSpec)
    add_runs_dir(p, flag=True, default="runs")


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by selrob train")
    add_arguments(p, EvalSpec)
    add_runtime(p)


COMMANDS = [
    Subcommand("train", "train one network with the selectivity regulariser", _train_args, _train),
    Subcommand("where", "print the run directory a train command would use", _where_args, _where),
    Subcommand("evaluate", "measure a trained run: accuracy, selectivity, robustness, analyses",
               _evaluate_args, _evaluate),
]  # fmt: skip
