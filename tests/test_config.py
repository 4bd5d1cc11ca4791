"""Spec hashing (golden value), canonical JSON, type coercion, train-mode options."""

from __future__ import annotations

import pytest

from selrob.config import (
    EvalSpec,
    TrainSpec,
    canonical_json,
    coerce,
    from_dict,
    spec_hash,
)
from selrob.errors import InvalidArgument
from selrob.presets import resolve


def test_golden_hash() -> None:
    """Changing this hash orphans every existing run directory: do it only on purpose."""
    spec = TrainSpec(dataset="fashion-mnist", model="resnet20", alpha=-1.0, seed=0, epochs=5)
    assert canonical_json(spec) == '{"alpha":-1.0,"epochs":5}'
    assert spec_hash(spec) == "8bf906dc14b62e78"  # sha256(canonical)[:16], recorded once


def test_defaults_left_out_of_hash() -> None:
    assert spec_hash(TrainSpec(alpha=1.0)) == spec_hash(TrainSpec(alpha=1.0, momentum=0.9))
    assert spec_hash(TrainSpec(alpha=1.0)) != spec_hash(TrainSpec(alpha=1.0, seed=1))


def test_resolve_fills_presets() -> None:
    r = resolve(TrainSpec(dataset="cifar10"))
    assert (r.epochs, r.batch_size, r.milestones, r.augment) == (200, 256, (100, 150), True)
    assert resolve(TrainSpec(epochs=3)).epochs == 3


def test_coerce_lists_ranges_fractions() -> None:
    assert coerce(EvalSpec, "severities", "1-3,5") == (1, 2, 3, 5)
    assert coerce(EvalSpec, "epsilons", "0,1/255") == (0.0, pytest.approx(1 / 255))
    assert coerce(EvalSpec, "corruptions", "all") == ("all",)
    assert coerce(TrainSpec, "augment", "false") is False
    with pytest.raises(InvalidArgument, match="alpha"):
        coerce(TrainSpec, "alpha", "abc")
    with pytest.raises(InvalidArgument, match="epochs"):
        coerce(TrainSpec, "epochs", 2.5)


def test_unknown_field() -> None:
    with pytest.raises(InvalidArgument, match="bogus"):
        from_dict(TrainSpec, {"bogus": 1})


def test_speed_options_that_change_numerics_change_the_hash() -> None:
    """channels_last and bf16 autocast train with other float rounding: each a different run,
    a different directory; their defaults leave the hash as it was."""
    base = TrainSpec(alpha=1.0)
    fast = TrainSpec(alpha=1.0, channels_last=True)
    bf16 = TrainSpec(alpha=1.0, train_precision="bfloat16")  # type: ignore[arg-type]
    assert len({spec_hash(base), spec_hash(fast), spec_hash(bf16)}) == 3
    assert canonical_json(fast) == '{"alpha":1.0,"channels_last":true}'
    assert canonical_json(bf16) == '{"alpha":1.0,"train_precision":"bfloat16"}'
    assert spec_hash(TrainSpec(alpha=1.0, channels_last=False)) == spec_hash(base)  # default
    assert spec_hash(TrainSpec(alpha=1.0, train_precision="float32")) == spec_hash(base)  # type: ignore[arg-type]


def test_enum_fields_take_their_values_and_reject_others() -> None:
    from selrob.config import EvalSpec, from_dict
    from selrob.enums import Norm, Precision, Schedule

    spec = from_dict(EvalSpec, {"norm": "l2", "eval_precision": "bfloat16"})
    assert spec.norm is Norm.L2 and spec.eval_precision is Precision.BFLOAT16
    assert from_dict(TrainSpec, {"schedule": "step"}).schedule is Schedule.STEP
    with pytest.raises(
        InvalidArgument, match="norm: cannot read 'l3' as Norm: expected linf or l2"
    ):
        from_dict(EvalSpec, {"norm": "l3"})
