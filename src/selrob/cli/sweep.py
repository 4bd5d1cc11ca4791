"""Subcommands on a RUNS_DIR: ``sweep``, ``results``, ``report``, and ``demo`` (a packaged sweep,
then its results and report through the same helpers as ``sweep`` and ``report``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from selrob.cli._common import Subcommand, add_rerun, add_runs_dir, add_runtime, runtime
from selrob.config import Runtime
from selrob.errors import SelrobError
from selrob.sweep import BUILTIN_SWEEPS as PROFILES


def _run(sweep_arg: str, out: Path, rt: Runtime, *, executor: str = "local", jobs: int | None = 1,
         ray_address: str | None = None, rerun: bool = False, retries: int = 2) -> Any:  # fmt: skip
    """Load a sweep (a file or a packaged name), run it into ``out``, print its summary."""
    from selrob.sweep import load_sweep, resolve_sweep_path
    from selrob.sweep.executors import default_jobs, run_sweep

    sweep = load_sweep(resolve_sweep_path(sweep_arg))
    grid = f"{len(sweep.alphas)} alphas x {len(sweep.seeds)} seeds"
    if sweep.variants:
        grid += f" x {len(sweep.variants)} variants"
    print(f"selrob sweep {sweep.name}: {len(sweep.runs())} runs ({grid}) into {out}")
    report = run_sweep(sweep, out, rt, executor=executor, jobs=jobs or default_jobs(rt),
                       ray_address=ray_address, progress=not rt.quiet, rerun=rerun,
                       retries=retries)  # fmt: skip
    counts: dict[str, int] = {}
    for r in report.runs:
        counts[r.status] = counts.get(r.status, 0) + 1
    print(
        f"sweep: {len(report.runs)} runs ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))})"
    )
    for r in report.failed:
        print(f"  failed alpha={r.alpha:g} seed={r.seed}: {r.error}")
    if report.damaged:
        print(f"{len(report.damaged)} damaged run directories (left as they are; --rerun moves "
              "them aside and trains them again):")  # fmt: skip
        for r in report.damaged:
            print(f"  damaged alpha={r.alpha:g} seed={r.seed}: {r.error}")
    return report


def _write_report(runs_dir: Path, out: Path | None = None) -> Path:
    """results.csv (+ Parquet, long tables) and the HTML report of ``runs_dir``; prints both."""
    from selrob.report import write_report
    from selrob.results import save_results

    csv, _ = save_results(runs_dir)
    html = write_report(runs_dir, out)
    print(f"results: {csv}\nreport: {html}")
    return html


def _sweep(ns: argparse.Namespace) -> int:
    report = _run(ns.sweep_file, Path(ns.out), runtime(ns), executor=ns.executor, jobs=ns.jobs,
                  ray_address=ns.ray_address, rerun=ns.rerun, retries=ns.retries)  # fmt: skip
    return 0 if report.ok else 1


def _results(ns: argparse.Namespace) -> int:
    import pandas as pd

    from selrob.results import load_runs, save_results, summary_table

    csv, parquet = save_results(Path(ns.runs_dir))
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 4):
        print(summary_table(load_runs(Path(ns.runs_dir))).to_string(index=False))
    print(f"results: {csv}\n         {parquet}")
    return 0


def _report(ns: argparse.Namespace) -> int:
    _write_report(Path(ns.runs_dir), Path(ns.out) if ns.out else None)
    return 0


def _demo(ns: argparse.Namespace) -> int:
    """``selrob sweep PROFILE --out OUT`` + ``selrob report OUT`` in one command."""
    t0 = time.perf_counter()
    if ns.profile not in PROFILES:
        from selrob.errors import UnknownName

        raise UnknownName(f"unknown profile {ns.profile!r}; choose one of: {', '.join(PROFILES)}")
    out = Path(ns.out)
    report = _run(ns.profile, out, runtime(ns), jobs=ns.jobs)
    if report.runs and len(report.failed) == len(report.runs):
        raise SelrobError(f"every run of the {ns.profile} sweep failed; see the messages above")
    html = _write_report(out)
    print(f"done: {html}  ({time.perf_counter() - t0:.0f} s)")
    return 0


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_file", help="sweep definition (TOML), or a built-in name: "
                   + ", ".join(PROFILES))  # fmt: skip
    add_runs_dir(p, flag=True, help="RUNS_DIR: one run directory per (alpha, seed) goes here")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where runs execute [default: local]")  # fmt: skip
    p.add_argument("--jobs", type=int, default=1,
                   help="runs at a time per device: local worker processes (JOBS per GPU on "
                   "CUDA), or on Ray 1/JOBS of a node's cores and of a GPU per run [default: 1]")  # fmt: skip
    p.add_argument("--ray-address", default=None,
                   help="ray executor: HOST:PORT of a cluster [default: start a local Ray]")  # fmt: skip
    p.add_argument("--retries", type=int, default=2,
                   help="ray executor: retries of a run whose worker died [default: 2]")  # fmt: skip
    add_rerun(p)
    add_runtime(p)


def _results_args(p: argparse.ArgumentParser) -> None:
    add_runs_dir(p, help="a directory of runs made by selrob sweep or selrob train")


def _report_args(p: argparse.ArgumentParser) -> None:
    add_runs_dir(p, help="a directory of runs made by selrob sweep or selrob train")
    p.add_argument("--out", metavar="HTML", default=None,
                   help="HTML path [default: RUNS_DIR/report.html]")  # fmt: skip


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="RUNS_DIR", default="demo-runs",
                   help="where runs and the report go [default: demo-runs]")  # fmt: skip
    p.add_argument("--profile", default="demo",
                   help=f"{', '.join(PROFILES)} [default: demo]")  # fmt: skip
    p.add_argument("--jobs", type=int, default=None,
                   help="runs at a time per device [default: 2 on a multi-core CPU, 1 per GPU]")  # fmt: skip
    add_runtime(p)


COMMANDS = [
    Subcommand("demo", "the main job: a small Fashion-MNIST sweep and its report", _demo_args, _demo),
    Subcommand("sweep", "train and evaluate an alpha x seed grid described by a TOML file",
               _sweep_args, _sweep),
    Subcommand("results", "collect every run of RUNS_DIR into results.csv / .parquet and print a summary",
               _results_args, _results),
    Subcommand("report", "write RUNS_DIR/report.html redrawing the paper's figures with statistics",
               _report_args, _report),
]  # fmt: skip


def _check(ns: argparse.Namespace) -> int:
    from selrob.experiment.check import check_runs

    n, problems = check_runs(Path(ns.runs_dir))
    for p in problems:
        print(p.line())
    bad = len({p.run for p in problems})
    print(f"checked {n} runs: {n - bad} healthy, {bad} with problems")
    return 0 if not problems else 1


def _check_args(p: argparse.ArgumentParser) -> None:
    add_runs_dir(p, help="a directory of runs made by selrob sweep or selrob train")


COMMANDS.append(
    Subcommand(
        "check", "verify every run directory of RUNS_DIR: one line per problem", _check_args, _check
    )  # fmt: skip
)
