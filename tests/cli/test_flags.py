"""The command-line flags generated from the spec dataclasses."""

from __future__ import annotations

import argparse
import dataclasses

from selrob.cli.flags import add_arguments, from_args
from selrob.config import EvalSpec, TrainSpec


def test_flags_cover_every_field() -> None:
    for cls in (TrainSpec, EvalSpec):
        p = argparse.ArgumentParser()
        add_arguments(p, cls)
        dests = {a.dest for a in p._actions}
        assert {f.name for f in dataclasses.fields(cls)} <= dests
        for a in p._actions[1:]:
            assert a.help and "default" in a.help
    p = argparse.ArgumentParser()
    add_arguments(p, TrainSpec)
    ns = p.parse_args(["--alpha", "-2", "--milestones", "3,4", "--no-augment"])
    spec = from_args(TrainSpec, ns)
    assert (spec.alpha, spec.milestones, spec.augment) == (-2.0, (3, 4), False)
