"""What every subcommand shares: its table entry, the runtime flags, the RUNS_DIR argument."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from selrob.cli.flags import add_arguments, from_args
from selrob.config import Runtime


@dataclass(frozen=True)
class Subcommand:
    """One ``selrob NAME``: its one-line help, its flags and what it runs (returns the exit code)."""

    name: str
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def runtime(ns: argparse.Namespace) -> Runtime:
    """The ``Runtime`` of the parsed flags; applies ``--threads`` to torch when given, and keeps
    freed memory for reuse (:func:`selrob.devices.keep_freed_memory`: a CLI process is ours)."""
    rt = from_args(Runtime, ns)
    from selrob.devices import keep_freed_memory

    keep_freed_memory()
    if rt.threads:
        import torch

        torch.set_num_threads(rt.threads)
    return rt


def add_runtime(p: argparse.ArgumentParser) -> None:
    """``--device``, ``--data-dir``, ``--quiet``, ``--threads``."""
    add_arguments(p, Runtime)


def add_rerun(p: argparse.ArgumentParser) -> None:
    """``--rerun``: move damaged or failed run directories aside and train them again."""
    p.add_argument("--rerun", action="store_true",
                   help="move a damaged or failed run directory aside (<hash>.replaced-<time>) "
                   "and train it again")  # fmt: skip


def add_runs_dir(p: argparse.ArgumentParser, *, flag: bool = False, default: str | None = None,
                 help: str = "directory holding one run directory per spec") -> None:  # noqa: A002 # fmt: skip
    """The RUNS_DIR a command reads or fills: positional, or ``--out RUNS_DIR`` when ``flag``."""
    if flag:
        p.add_argument("--out", metavar="RUNS_DIR", default=default, required=default is None,
                       help=f"{help}" + (f" [default: {default}]" if default else ""))  # fmt: skip
    else:
        p.add_argument("runs_dir", metavar="RUNS_DIR", help=help)
