"""The evaluation sections as a registry: each one's contract, checked over every entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from selrob.config import EvalSpec
from selrob.errors import InvalidArgument, UnknownName
from selrob.experiment import plan
from selrob.experiment.sections import SECTIONS, analysis_epsilon, analysis_names, epsilons_for

EVERYTHING = EvalSpec(corruptions=("all",), attacks=("fgsm", "pgd"),
                      analyses=tuple(analysis_names()))  # fmt: skip


@pytest.mark.parametrize("name", SECTIONS.names())
def test_every_section_has_json_params_and_is_asked_by_a_full_spec(name: str) -> None:
    import json

    section = SECTIONS.get(name)
    assert section.asked(EVERYTHING)
    params = section.params(EVERYTHING)
    assert json.loads(json.dumps(params)) == params  # stored in metrics.json as is
    assert callable(section.run)


def test_plan_lists_only_the_asked_sections_in_registry_order() -> None:
    assert list(plan(EvalSpec())) == ["clean"]
    assert list(plan(EVERYTHING)) == SECTIONS.names()
    assert list(plan(EvalSpec(analyses=("gradients",)))) == ["clean", "gradients"]
    assert analysis_names() == ["dimensionality", "gradients"]


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        (
            EvalSpec(analyses=("pca",)),
            InvalidArgument,
            "unknown analysis 'pca'; choose dimensionality, gradients",
        ),
        (EvalSpec(attacks=("cw",)), UnknownName, "fgsm, pgd"),
        (EvalSpec(severities=(0,)), InvalidArgument, "severity 0"),
        (EvalSpec(epsilons=(-1.0,)), InvalidArgument, "epsilons must be >= 0"),
        (EvalSpec(attacks=("pgd",), pgd_steps=0), InvalidArgument, "pgd_steps"),
        (EvalSpec(analysis_epsilon=0.0), InvalidArgument, "analysis_epsilon"),
        (EvalSpec(eval_batch_size=0), InvalidArgument, "eval_batch_size must be >= 1"),
    ],
)
def test_plan_rejects_bad_specs(spec: EvalSpec, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        plan(spec)


def test_epsilon_defaults_come_from_the_dataset() -> None:
    assert epsilons_for(EvalSpec(), "fashion-mnist") == [0.0, 0.005, 0.01, 0.02, 0.05, 0.1]
    assert analysis_epsilon(EvalSpec(), "fashion-mnist") == 0.02  # the middle non-zero budget
    assert analysis_epsilon(EvalSpec(analysis_epsilon=0.3), "fashion-mnist") == 0.3


def test_batch_size_is_recorded_where_the_numbers_depend_on_it() -> None:
    """Attack starts and the analyses' perturbations are drawn per batch: a batch size other
    than the default enters those sections' parameters (so they are redone), and not the
    forward-only ones (clean; corruptions draw noise per fixed block)."""
    default = plan(EVERYTHING)
    big = plan(EvalSpec(**{**EVERYTHING.__dict__, "eval_batch_size": 1024}))
    same = plan(EvalSpec(**{**EVERYTHING.__dict__, "eval_batch_size": 256}))
    assert same == default  # the default spelled out names the same evaluation
    changed = {name for name in default if big[name] != default[name]}
    assert changed == {"attacks", "dimensionality"}
    assert big["attacks"]["batch_size"] == 1024


def test_forward_batches_follow_the_device_unless_asked(idx_dir: Path) -> None:
    import torch

    from selrob.config import TrainSpec
    from selrob.data import load_dataset
    from selrob.experiment.sections import Context

    test = load_dataset("fashion-mnist", "test", idx_dir)
    assert len(test) == 256  # the synthetic test set
    model = torch.nn.Identity()

    def ctx(device: str, **kw: int) -> Context:
        return Context(model, TrainSpec(), EvalSpec(**kw), test, torch.device(device), False)

    assert ctx("cpu").forward_batch == 256 and ctx("cuda").forward_batch == 1024
    assert ctx("cuda", eval_batch_size=64).forward_batch == 64
    assert [len(y) for _, y in ctx("cpu", eval_batch_size=100).batches(draws=True)] == [
        100,
        100,
        56,
    ]
    assert [len(y) for _, y in ctx("cpu", eval_batch_size=100).batches()] == [100, 100, 56]
