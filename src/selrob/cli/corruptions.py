"""Subcommands on the corruption suite itself: ``corrupt`` (a CIFAR-10-C-layout set) and
``show-corruptions`` (a picture of one image under every corruption and severity)."""

from __future__ import annotations

import argparse
from pathlib import Path

from selrob.cli._common import Subcommand, add_runtime, runtime


def _corrupt(ns: argparse.Namespace) -> int:
    from selrob.perturb.corruptions.export import export_corrupted_set

    rt = runtime(ns)
    names = [n for n in ns.corruptions.split(",") if n] if ns.corruptions != "all" else None
    files = export_corrupted_set(ns.dataset, Path(ns.out), data_dir=rt.data_dir, limit=ns.limit,
                                 seed=ns.seed, corruptions=names, progress=not rt.quiet)  # fmt: skip
    print(f"wrote {len(files)} corruption files and labels.npy to {ns.out}")
    return 0


def _show(ns: argparse.Namespace) -> int:
    from selrob.perturb.corruptions.export import corruption_grid

    rt = runtime(ns)
    print(
        f"wrote {corruption_grid(ns.dataset, Path(ns.out), data_dir=rt.data_dir, index=ns.index, seed=ns.seed)}"
    )
    return 0


def _common_args(p: argparse.ArgumentParser, out_help: str) -> None:
    p.add_argument(
        "--dataset", default="fashion-mnist", help="dataset name [default: fashion-mnist]"
    )
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--seed", type=int, default=0, help="seed of the corruption noise [default: 0]")


def _corrupt_args(p: argparse.ArgumentParser) -> None:
    _common_args(p, "output directory")
    p.add_argument("--corruptions", default="all", help="comma list of corruptions [default: all]")
    p.add_argument("--limit", type=int, default=None, help="first N test images only")
    add_runtime(p)


def _show_args(p: argparse.ArgumentParser) -> None:
    _common_args(p, "PNG path")
    p.add_argument("--index", type=int, default=0, help="which test image [default: 0]")
    add_runtime(p)


COMMANDS = [
    Subcommand("corrupt", "write a corrupted test set in the CIFAR-10-C layout "
               "(<corruption>.npy + labels.npy)", _corrupt_args, _corrupt),
    Subcommand("show-corruptions", "draw one test image under every corruption and severity (PNG)",
               _show_args, _show),
]  # fmt: skip
