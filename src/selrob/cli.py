"""Command line: thin adaptors from flags to specs to :mod:`selrob.experiment`.

The only module that prints. A :class:`~selrob.errors.SelrobError` becomes one line on stderr
and a non-zero exit (2, or 3 for a failed run), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from selrob.config import EvalSpec, Runtime, TrainSpec, add_arguments, from_args
from selrob.errors import SelrobError

log = logging.getLogger("selrob")


def _runtime(ns: argparse.Namespace) -> Runtime:
    rt = from_args(Runtime, ns)
    if rt.threads:
        import torch

        torch.set_num_threads(rt.threads)
    return rt


def cmd_train(ns: argparse.Namespace) -> int:
    from selrob.experiment import ensure_trained

    rt = _runtime(ns)
    res = ensure_trained(from_args(TrainSpec, ns), Path(ns.out), rt, progress=not rt.quiet)
    if res.action == "skipped":
        print(f"already finished, nothing to do: {res.run_dir}")
    m = res.metrics
    print(f"run: {res.run_dir}")
    print(
        f"status: {res.status}  test accuracy: {m.get('test_accuracy', float('nan')):.4f}  mean selectivity: {m.get('mean_selectivity', float('nan')):.4f}"
    )
    return 0


def cmd_where(ns: argparse.Namespace) -> int:
    from selrob.experiment import run_dir_for

    _, run_dir = run_dir_for(from_args(TrainSpec, ns), Path(ns.out))
    print(run_dir)
    return 0


def cmd_evaluate(ns: argparse.Namespace) -> int:
    from selrob.experiment import ensure_evaluated

    rt = _runtime(ns)
    ev = ensure_evaluated(Path(ns.run_dir), from_args(EvalSpec, ns), rt, progress=not rt.quiet)
    print(f"run: {ns.run_dir}")
    print(
        f"clean accuracy: {ev['clean_accuracy']:.4f} (n={ev['n_test']})  mean selectivity: {ev['selectivity']['mean']:.4f}"
    )
    for layer, v in ev["selectivity"]["per_layer"].items():
        print(f"  {layer:12s} selectivity {v:.4f}")
    if "mean_corrupted_accuracy" in ev and ev.get("corruptions"):
        print(
            f"mean corrupted accuracy: {ev['mean_corrupted_accuracy']:.4f}  (drop from clean {ev['corruption_drop']:.4f})"
        )
    for r in ev.get("attacks", []):
        print(
            f"  {r['attack']:5s} {r['norm']:4s} eps={r['epsilon']:.4f}  accuracy {r['accuracy']:.4f}"
        )
    return 0


def cmd_demo(ns: argparse.Namespace) -> int:
    from selrob.demo import run_demo

    rt = _runtime(ns)
    out = run_demo(
        Path(ns.out), rt, profile=ns.profile, jobs=ns.jobs, progress=not rt.quiet, echo=print
    )
    print(f"done: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="selrob", description="Class selectivity vs average- and worst-case robustness."
    )
    sub = p.add_subparsers(dest="command", required=True)

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        return sp

    sp = add("train", cmd_train, "train one network with the selectivity regulariser")
    add_arguments(sp, TrainSpec)
    add_arguments(sp, Runtime)
    sp.add_argument(
        "--out", default="runs", help="directory holding run directories [default: runs]"
    )

    sp = add("where", cmd_where, "print the run directory a train command would use")
    add_arguments(sp, TrainSpec)
    sp.add_argument(
        "--out", default="runs", help="directory holding run directories [default: runs]"
    )

    sp = add(
        "evaluate",
        cmd_evaluate,
        "measure a trained run: accuracy, selectivity, robustness, analyses",
    )
    sp.add_argument("run_dir", help="a run directory made by selrob train")
    add_arguments(sp, EvalSpec)
    add_arguments(sp, Runtime)

    sp = add("demo", cmd_demo, "the main job: a small Fashion-MNIST sweep and its report")
    sp.add_argument(
        "--out", default="demo-runs", help="where runs and the report go [default: demo-runs]"
    )
    sp.add_argument(
        "--profile",
        default="demo",
        help="demo, paper-cifar10 or paper-tinyimagenet [default: demo]",
    )
    sp.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="runs at a time [default: 2 on a multi-core CPU, 1 on a GPU]",
    )
    add_arguments(sp, Runtime)

    from selrob.cli_more import register_more

    register_more(add)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
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


def dumps(obj: object) -> str:
    return json.dumps(obj, indent=2)


if __name__ == "__main__":
    raise SystemExit(main())
