"""What ``selrob evaluate`` measures, as a registry of sections (clean, corruptions, attacks,
dimensionality, gradients).

A :class:`Section` knows when a spec asks for it, the parameters its result depends on (a
section is recomputed only when those change) and how to compute it. Numbers come from
:mod:`selrob.analysis`; nothing here writes files (:mod:`.evaluation` persists). Adding a
measurement is adding one ``Section`` to :data:`SECTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from selrob import seeds
from selrob.analysis.adversarial_robustness import adversarial_accuracy, default_epsilons
from selrob.analysis.corruption_robustness import (
    corruption_accuracy,
    pooled_corruption,
    published_corruption_accuracy,
    summarize_corruptions,
)
from selrob.analysis.dimensionality import layer_dimensionality
from selrob.analysis.gradients import gradient_variability
from selrob.analysis.selectivity import clean_pass
from selrob.config import DRAW_BATCH, FORWARD_BATCH, EvalSpec, TrainSpec
from selrob.data import DATASETS, ImageDataset, batches, to_float
from selrob.enums import Precision
from selrob.errors import InvalidArgument
from selrob.measures import attack_measures
from selrob.models.common import accuracy
from selrob.perturb.attacks import attack
from selrob.perturb.corruptions import resolve_corruptions
from selrob.probe_spec import ProbeSpec
from selrob.registry import Registry

EXACT_PCA_SAMPLES = 2000  # up to this many inputs the dimensionality PCA keeps every feature
PCA_FEATURE_BUDGET = 2048  # beyond it, a fixed seeded subset of this many features per layer


@dataclass(frozen=True)
class Context:
    """Everything a section needs: the trained model, both specs, the test set, the device."""

    model: torch.nn.Module
    train_spec: TrainSpec | ProbeSpec  # dataset, units and seed are read
    spec: EvalSpec
    test: ImageDataset
    device: torch.device
    progress: bool

    @property
    def forward_batch(self) -> int:
        """Batch size of forward-only passes: asked, or the device's default."""
        return self.spec.eval_batch_size or FORWARD_BATCH.get(self.device.type, DRAW_BATCH)

    def batches(self, ds: ImageDataset | None = None, *, draws: bool = False) -> Any:
        """Batches of ``ds`` (default: the test set); ``draws``: for a section drawing random
        numbers per batch (:func:`draw_batch`), else of :attr:`forward_batch`."""
        size = draw_batch(self.spec) if draws else self.forward_batch
        return batches(self.test if ds is None else ds, size, device=self.device)


def draw_batch(spec: EvalSpec) -> int:
    """Batch size of the sections whose random draws are per batch (attacks, analyses)."""
    return spec.eval_batch_size or DRAW_BATCH


def _with_draw_batch(spec: EvalSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Add the batch size to a drawing section's parameters when it is not the default."""
    if draw_batch(spec) != DRAW_BATCH:
        params["batch_size"] = draw_batch(spec)
    return params


@dataclass(frozen=True)
class Section:
    """One part of an evaluation: ``asked(spec)``, ``params(spec)`` (what its result depends
    on, stored in metrics.json) and ``run(ctx) -> {metrics key: value}``."""

    asked: Callable[[EvalSpec], bool]
    params: Callable[[EvalSpec], dict[str, Any]]
    run: Callable[[Context], dict[str, Any]]
    analysis: bool = False  # selected by name in ``--analyses``


SECTIONS: Registry[Section] = Registry("evaluation section")


def _analysis_params(spec: EvalSpec, samples: int, draws: bool = True,
                     **extra: Any) -> dict[str, Any]:  # fmt: skip
    params = {"samples": samples, "severity": spec.analysis_severity,
              "epsilon": spec.analysis_epsilon, "norm": spec.norm,
              "corruptions": list(spec.corruptions)}  # fmt: skip
    # settings added later enter the parameters only when set, so stored sections stay valid
    params.update({k: v for k, v in extra.items() if v is not None})
    return _with_draw_batch(spec, params) if draws else params


def _attack_params(spec: EvalSpec) -> dict[str, Any]:
    params = {"attacks": list(spec.attacks), "norm": spec.norm,
              "epsilons": list(spec.epsilons) if spec.epsilons else None,
              "steps": spec.pgd_steps, "step_size": spec.pgd_step_size,
              "restarts": spec.pgd_restarts, "limit_test": spec.limit_test}  # fmt: skip
    if spec.attack_samples is not None:
        params["samples"] = spec.attack_samples
    return _with_draw_batch(spec, params)


def epsilons_for(spec: EvalSpec, dataset: str) -> list[float]:
    """The spec's epsilons, or the dataset's default grid for the spec's norm."""
    return list(spec.epsilons) if spec.epsilons else default_epsilons(dataset, spec.norm)


def analysis_epsilon(spec: EvalSpec, dataset: str) -> float:
    """The attack budget of the mechanism analyses: given, or the middle non-zero epsilon of the grid."""
    if spec.analysis_epsilon is not None:
        return float(spec.analysis_epsilon)
    grid = [e for e in epsilons_for(spec, dataset) if e > 0]
    return grid[(len(grid) - 1) // 2]


def _autocast(spec: EvalSpec) -> torch.dtype | None:
    return torch.bfloat16 if spec.eval_precision == Precision.BFLOAT16 else None


def _with_precision(spec: EvalSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Add the precision to a section's parameters when it is not the default float32."""
    if spec.eval_precision != Precision.FLOAT32:
        params["precision"] = spec.eval_precision
    return params


def _clean(ctx: Context) -> dict[str, Any]:
    acc, n, sel = clean_pass(ctx.model, ctx.batches(), ctx.test.num_classes,
                             units=ctx.train_spec.units, progress=ctx.progress,
                             autocast=_autocast(ctx.spec))  # fmt: skip
    sel.pop("per_unit", None)
    return {"clean_accuracy": acc, "n_test": n, "selectivity": sel}


def _corruptions(ctx: Context) -> dict[str, Any]:
    spec, ts = ctx.spec, ctx.train_spec
    names = resolve_corruptions(spec.corruptions, ctx.test.shape[0])
    if spec.corrupted_dir:  # a published -C set on disk, in the dataset's own layout
        clean, n = accuracy(ctx.model, ctx.batches(), autocast=_autocast(spec))
        load_c = DATASETS.get(ts.dataset).load_corrupted
        root, classes = Path(spec.corrupted_dir), ctx.test.classes
        recs = [{"corruption": "clean", "severity": 0, "accuracy": clean, "n": n}]
        recs += published_corruption_accuracy(
            ctx.model, lambda c, s: load_c(root, c, s, classes), names, spec.severities,
            limit=spec.limit_test, batch_size=ctx.forward_batch, device=ctx.device,
            progress=ctx.progress, autocast=_autocast(spec),
        )  # fmt: skip
    else:
        recs = corruption_accuracy(ctx.model, ctx.test, names, spec.severities,
                                   batch_size=ctx.forward_batch, seed=ts.seed,
                                   device=ctx.device, progress=ctx.progress,
                                   autocast=_autocast(spec))  # fmt: skip
    return {"corruptions": [r for r in recs if r["corruption"] != "clean"],
            **summarize_corruptions(recs)}  # fmt: skip


def _attacks(ctx: Context) -> dict[str, Any]:
    spec, ts = ctx.spec, ctx.train_spec
    eps = epsilons_for(spec, ts.dataset)
    sample = ctx.test.subset(spec.attack_samples)
    records: list[dict[str, Any]] = []
    for name in spec.attacks:  # each attack starts from the same seeded generator
        gen = torch.Generator().manual_seed(seeds.attack_seed(ts.seed))
        records += adversarial_accuracy(
            ctx.model, ctx.batches(sample, draws=True), name, eps, norm=spec.norm, steps=spec.pgd_steps,
            step_size=spec.pgd_step_size, restarts=spec.pgd_restarts, generator=gen,
            device=ctx.device, progress=ctx.progress,
        )  # fmt: skip
    return {"attacks": records, "attack_measures": attack_measures(records)}


def _dimensionality(ctx: Context) -> dict[str, Any]:
    spec, ts = ctx.spec, ctx.train_spec
    sample = ctx.test.subset(spec.analysis_samples)
    names = resolve_corruptions(spec.corruptions or ["all"], ctx.test.shape[0])
    eps = analysis_epsilon(spec, ts.dataset)
    gen = torch.Generator().manual_seed(seeds.attack_seed(ts.seed, "dimensionality"))

    def adversarial(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return attack(ctx.model, x, y, "pgd", eps, norm=spec.norm, steps=spec.pgd_steps,
                      step_size=spec.pgd_step_size, generator=gen)  # fmt: skip

    perturbations = {
        f"corruptions@{spec.analysis_severity}":
            ("corrupted", pooled_corruption(names, spec.analysis_severity, ts.seed)),
        f"pgd-{spec.norm}@{eps:.4g}": ("adversarial", adversarial),
    }  # fmt: skip
    # exact PCA while the sample is small (Gram route, N x N); a fixed seeded feature budget
    # beyond, so networks are compared at the same budget (docs/method.md)
    exact = len(sample) <= EXACT_PCA_SAMPLES
    records = layer_dimensionality(
        ctx.model, ctx.batches(sample, draws=True), perturbations, units=ts.units,
        max_features=None if exact else PCA_FEATURE_BUDGET,
        generator=torch.Generator().manual_seed(seeds.feature_subset_seed(ts.seed)),
        progress=ctx.progress,
    )  # fmt: skip
    return {"dimensionality": records}


def _gradients(ctx: Context) -> dict[str, Any]:
    ts = ctx.train_spec
    x = to_float(ctx.test.subset(ctx.spec.gradient_samples).images, ctx.device)
    gen = torch.Generator().manual_seed(seeds.gradient_units_seed(ts.seed))
    return {"gradients": gradient_variability(ctx.model, x, units=ts.units, generator=gen,
                                              max_units=ctx.spec.gradient_units,
                                              progress=ctx.progress)}  # fmt: skip


SECTIONS.register("clean")(Section(
    asked=lambda spec: True, run=_clean,
    params=lambda spec: _with_precision(spec, {"limit_test": spec.limit_test}),
))  # fmt: skip
SECTIONS.register("corruptions")(Section(
    asked=lambda spec: bool(spec.corruptions),
    params=lambda spec: _with_precision(spec, {
        "names": list(spec.corruptions), "severities": list(spec.severities),
        "limit_test": spec.limit_test, "source": spec.corrupted_dir}),
    run=_corruptions,
))  # fmt: skip
SECTIONS.register("attacks")(Section(
    asked=lambda spec: bool(spec.attacks),
    params=_attack_params, run=_attacks,
))  # fmt: skip
SECTIONS.register("dimensionality")(Section(
    asked=lambda spec: "dimensionality" in spec.analyses,
    params=lambda spec: _analysis_params(spec, spec.analysis_samples),
    run=_dimensionality, analysis=True,
))  # fmt: skip
SECTIONS.register("gradients")(Section(
    asked=lambda spec: "gradients" in spec.analyses,
    params=lambda spec: _analysis_params(spec, spec.gradient_samples, draws=False,
                                         units=spec.gradient_units),
    run=_gradients, analysis=True,
))  # fmt: skip


def analysis_names() -> list[str]:
    """The section names ``--analyses`` accepts."""
    return [n for n in SECTIONS.names() if SECTIONS.get(n).analysis]


def check_names(spec: EvalSpec) -> None:
    """Every attack, norm and analysis the spec names exists (InvalidArgument / UnknownName)."""
    from selrob.perturb.attacks import ATTACKS, BALLS

    if spec.attacks:
        for a in spec.attacks:
            ATTACKS.get(a)
        BALLS.get(spec.norm)
    for a in spec.analyses:
        if a not in analysis_names():
            raise InvalidArgument(f"unknown analysis {a!r}; choose {', '.join(analysis_names())}")
