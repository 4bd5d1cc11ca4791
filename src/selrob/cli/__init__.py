"""Command line: one table of subcommands, each a thin adaptor from flags to library calls.

The only package that prints. A :class:`~selrob.errors.SelrobError` becomes one line on stderr
and a non-zero exit (2, or 3 for a failed run), never a traceback. Subcommands live with what
they act on: :mod:`.run` (one run), :mod:`.sweep` (a runs directory), :mod:`.corruptions`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from selrob.cli import corruptions, probe, run, sweep
from selrob.cli._common import Subcommand
from selrob.errors import SelrobError

SUBCOMMANDS: list[Subcommand] = [
    *run.COMMANDS,
    *probe.COMMANDS,
    *sweep.COMMANDS,
    *corruptions.COMMANDS,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``selrob`` parser with one subparser per entry of :data:`SUBCOMMANDS`."""
    p = argparse.ArgumentParser(
        prog="selrob", description="Class selectivity vs average- and worst-case robustness."
    )
    sub = p.add_subparsers(dest="command", required=True)
    for cmd in SUBCOMMANDS:
        sp = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_args(sp)
        sp.set_defaults(fn=cmd.run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``selrob ARGV``; returns the exit code."""
    ns = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if getattr(ns, "quiet", False) else logging.INFO,
        format="selrob: %(message)s",
    )
    try:
        return int(ns.fn(ns))
    except SelrobError as e:
        print(f"selrob: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("selrob: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
