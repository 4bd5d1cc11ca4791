"""``selrob probe``: measure a model selrob did not train (``selrob.experiment.probe``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from selrob.cli._common import Subcommand, add_runs_dir, add_runtime, runtime
from selrob.cli.flags import add_arguments, from_args
from selrob.config import EvalSpec


def _probe(ns: argparse.Namespace) -> int:
    from selrob.config import coerce
    from selrob.errors import InvalidArgument
    from selrob.experiment.probe import probe
    from selrob.probe_spec import TORCHSCRIPT, ProbeSpec

    rt = runtime(ns)
    normalize = coerce(ProbeSpec, "normalize", ns.normalize) if ns.normalize else ()
    if ns.torchscript and ns.weights:  # the spec refuses --weights-key and --model-kwargs
        raise InvalidArgument("a TorchScript file carries its model and weights: drop --weights")
    source = TORCHSCRIPT if ns.torchscript else ns.model
    spec = ProbeSpec(model_source=source, model_kwargs=ns.model_kwargs,
                     weights_key=ns.weights_key, dataset=ns.dataset, normalize=normalize,
                     units=ns.units, seed=ns.seed)  # fmt: skip
    file = ns.torchscript or ns.weights
    weights = Path(file) if file else None
    run_dir = probe(spec, from_args(EvalSpec, ns), Path(ns.out), rt, weights=weights,
                    progress=not rt.quiet)  # fmt: skip
    from selrob.experiment import load_metrics

    ev = load_metrics(run_dir)["evaluation"]
    print(f"probe: {run_dir}")
    print(f"clean accuracy: {ev['clean_accuracy']:.4f} (n={ev['n_test']})  "
          f"mean selectivity: {ev['selectivity']['mean']:.4f}")  # fmt: skip
    if ev.get("corruptions"):
        print(f"mean corrupted accuracy: {ev['mean_corrupted_accuracy']:.4f}")
    for r in ev.get("attacks", []):
        print(
            f"  {r['attack']:5s} {r['norm']:4s} eps={r['epsilon']:.4f}  accuracy {r['accuracy']:.4f}"
        )
    return 0


def _probe_args(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--model",
        metavar="MODULE:FUNCTION",
        help="importable factory returning the nn.Module, e.g. mypkg.nets:resnet",
    )
    source.add_argument(
        "--torchscript",
        metavar="FILE",
        help="a TorchScript file (torch.jit.script or trace, saved) holding model and weights",
    )
    p.add_argument(
        "--model-kwargs",
        default="{}",
        metavar="JSON",
        help="keyword arguments of the factory as a JSON object [default: {}]",
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="FILE",
        help="state dict to load (weights_only=True) [default: the factory's weights]",
    )
    p.add_argument(
        "--weights-key",
        default=None,
        metavar="KEY",
        help="the state dict's key inside a checkpoint dict (e.g. state_dict)",
    )
    p.add_argument(
        "--dataset", default="fashion-mnist", help="dataset to measure on [default: fashion-mnist]"
    )
    p.add_argument(
        "--normalize",
        default=None,
        metavar="MEAN,...,STD,...",
        help="C means then C stds, when the model expects normalised input",
    )
    p.add_argument(
        "--units",
        default="default",
        metavar="GLOBS",
        help="module-name globs of the unit layers (required unless the model has unit_layers)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the evaluation's random streams [default: 0]"
    )
    add_arguments(p, EvalSpec)
    add_runtime(p)
    add_runs_dir(p, flag=True, default="probes")


COMMANDS = [
    Subcommand("probe", "measure a model selrob did not train (selectivity, robustness, analyses)",
               _probe_args, _probe),
]  # fmt: skip
