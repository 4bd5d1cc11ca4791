"""Subcommands beyond train/evaluate/demo: sweeps, results, report and the corruption tools.

Kept apart from cli.py so each stays short; still only adaptors (flags -> library calls -> print).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selrob.config import Runtime, add_arguments, from_args

Add = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def cmd_sweep(ns: argparse.Namespace) -> int:
    from selrob.sweep import load_sweep, resolve_sweep_path, run_sweep

    rt = from_args(Runtime, ns)
    sweep = load_sweep(resolve_sweep_path(ns.sweep_file))
    report = run_sweep(
        sweep,
        Path(ns.out),
        rt,
        executor=ns.executor,
        jobs=ns.jobs,
        ray_address=ns.ray_address,
        progress=not rt.quiet,
    )
    print(_sweep_summary(report))
    return 0 if not _failures(report) else 1


def _failures(report: Any) -> list[Any]:
    return [r for r in report.runs if r.status == "failed"]


def _sweep_summary(report: Any) -> str:
    counts: dict[str, int] = {}
    for r in report.runs:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines = [
        f"sweep: {len(report.runs)} runs ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))})"
    ]
    lines += [f"  failed alpha={r.alpha:g} seed={r.seed}: {r.error}" for r in _failures(report)]
    return "\n".join(lines)


def cmd_results(ns: argparse.Namespace) -> int:
    import pandas as pd

    from selrob.results import load_runs, save_results, summary_table

    csv, parquet = save_results(Path(ns.runs_dir))
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 4):
        print(summary_table(load_runs(Path(ns.runs_dir))).to_string(index=False))
    print(f"results: {csv}\n         {parquet}")
    return 0


def cmd_report(ns: argparse.Namespace) -> int:
    from selrob.report import write_report
    from selrob.results import save_results

    save_results(Path(ns.runs_dir))
    path = write_report(Path(ns.runs_dir), Path(ns.out) if ns.out else None)
    print(f"report: {path}")
    return 0


def cmd_corrupt(ns: argparse.Namespace) -> int:
    from selrob.exports import export_corrupted_set

    rt = from_args(Runtime, ns)
    names = [n for n in ns.corruptions.split(",") if n] if ns.corruptions != "all" else None
    files = export_corrupted_set(
        ns.dataset,
        Path(ns.out),
        data_dir=rt.data_dir,
        limit=ns.limit,
        seed=ns.seed,
        corruptions=names,
        progress=not rt.quiet,
    )
    print(f"wrote {len(files)} corruption files and labels.npy to {ns.out}")
    return 0


def cmd_show(ns: argparse.Namespace) -> int:
    from selrob.exports import corruption_grid

    rt = from_args(Runtime, ns)
    print(
        f"wrote {corruption_grid(ns.dataset, Path(ns.out), data_dir=rt.data_dir, index=ns.index, seed=ns.seed)}"
    )
    return 0


def register_more(add: Add) -> None:
    """Register the subcommands implemented in later layers."""
    sp = add("sweep", cmd_sweep, "train and evaluate an alpha x seed grid described by a TOML file")
    sp.add_argument(
        "sweep_file",
        help="sweep definition (TOML), or a built-in name: demo, paper-cifar10, paper-tinyimagenet",
    )
    sp.add_argument(
        "--out", required=True, help="RUNS_DIR: one run directory per (alpha, seed) goes here"
    )
    sp.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="where runs execute [default: local]",
    )
    sp.add_argument(
        "--jobs", type=int, default=1, help="local executor: runs at a time [default: 1]"
    )
    sp.add_argument(
        "--ray-address",
        default=None,
        help="ray executor: HOST:PORT of a cluster [default: start a local Ray]",
    )
    add_arguments(sp, Runtime)

    sp = add(
        "results",
        cmd_results,
        "collect every run of RUNS_DIR into results.csv / .parquet and print a summary",
    )
    sp.add_argument("runs_dir")

    sp = add(
        "report",
        cmd_report,
        "write RUNS_DIR/report.html redrawing the paper's figures with statistics",
    )
    sp.add_argument("runs_dir")
    sp.add_argument("--out", default=None, help="HTML path [default: RUNS_DIR/report.html]")

    for name, fn, help_ in (
        (
            "corrupt",
            cmd_corrupt,
            "write a corrupted test set in the CIFAR-10-C layout (<corruption>.npy + labels.npy)",
        ),
        (
            "show-corruptions",
            cmd_show,
            "draw one test image under every corruption and severity (PNG)",
        ),
    ):
        sp = add(name, fn, help_)
        sp.add_argument(
            "--dataset", default="fashion-mnist", help="dataset name [default: fashion-mnist]"
        )
        sp.add_argument(
            "--out", required=True, help="output directory (corrupt) or PNG path (show-corruptions)"
        )
        sp.add_argument(
            "--seed", type=int, default=0, help="seed of the corruption noise [default: 0]"
        )
        if name == "corrupt":
            sp.add_argument(
                "--corruptions", default="all", help="comma list of corruptions [default: all]"
            )
            sp.add_argument("--limit", type=int, default=None, help="first N test images only")
        else:
            sp.add_argument("--index", type=int, default=0, help="which test image [default: 0]")
        add_arguments(sp, Runtime)
