"""What ``selrob evaluate`` measures, section by section.

Each section (clean, corruptions, attacks, dimensionality, gradients) has the parameters that
determine its result; a section is recomputed only when those change, and its records are
handed to the caller's ``persist`` as soon as they exist (so an interrupted evaluation keeps
the finished sections). Numbers come from :mod:`selrob.analysis`; nothing here writes files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from selrob.config import EvalSpec, Runtime, TrainSpec
from selrob.data import ImageDataset, batches, load_dataset
from selrob.errors import InvalidArgument

Persist = Callable[[str, Any, dict[str, Any]], None]


def expand_corruptions(names: Sequence[str], channels: int) -> list[str]:
    """'all' -> every corruption applicable to ``channels`` (colour-only ones skipped on grey)."""
    from selrob.perturb.corruptions import CORRUPTIONS, corruptions_for

    if not names:
        return []
    if list(names) == ["all"]:
        return list(corruptions_for(channels))
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown:
        raise InvalidArgument(
            f"unknown corruption(s) {', '.join(unknown)}; choose from: all, {', '.join(CORRUPTIONS)}"
        )
    return list(names)


def SECTIONS(spec: EvalSpec) -> dict[str, Any]:  # noqa: N802 - a table, read like a constant
    """{section: the parameters its result depends on}, for the sections ``spec`` asks for."""
    for s in spec.severities:
        if not 1 <= s <= 5:
            raise InvalidArgument(f"severity {s} is outside 1..5")
    if spec.epsilons and any(not (e >= 0 and e != float("inf")) for e in spec.epsilons):
        raise InvalidArgument("epsilons must be >= 0 and finite (pixel units, e.g. 8/255)")
    out: dict[str, Any] = {"clean": {"limit_test": spec.limit_test}}
    if spec.corruptions:
        out["corruptions"] = {
            "names": list(spec.corruptions),
            "severities": list(spec.severities),
            "limit_test": spec.limit_test,
            "source": spec.corrupted_dir,
        }
    if spec.attacks:
        from selrob.perturb.attacks import attack_by_name, ball_by_name

        for a in spec.attacks:
            attack_by_name(a)
        ball_by_name(spec.norm)
        if spec.pgd_steps < 1 or spec.pgd_restarts < 1:
            raise InvalidArgument("pgd_steps and pgd_restarts must be >= 1")
        if spec.pgd_step_size is not None and not spec.pgd_step_size > 0:
            raise InvalidArgument(f"pgd_step_size must be > 0, got {spec.pgd_step_size}")
        out["attacks"] = {
            "attacks": list(spec.attacks), "norm": spec.norm, "epsilons": list(spec.epsilons) if spec.epsilons else None,
            "steps": spec.pgd_steps, "step_size": spec.pgd_step_size, "restarts": spec.pgd_restarts, "limit_test": spec.limit_test,
        }  # fmt: skip
    for a in spec.analyses:
        if a not in ("dimensionality", "gradients"):
            raise InvalidArgument(f"unknown analysis {a!r}; choose dimensionality, gradients")
        out[a] = {
            "samples": spec.analysis_samples if a == "dimensionality" else spec.gradient_samples,
            "severity": spec.analysis_severity, "epsilon": spec.analysis_epsilon, "norm": spec.norm,
            "corruptions": list(spec.corruptions),
        }  # fmt: skip
    return out


def evaluate_sections(
    model: torch.nn.Module,
    train_spec: TrainSpec,
    spec: EvalSpec,
    sections: Sequence[str],
    device: torch.device,
    runtime: Runtime,
    persist: Persist,
    *,
    progress: bool = False,
) -> None:
    """Compute each requested section and hand its results to ``persist``."""
    test = load_dataset(train_spec.dataset, "test", runtime.data_dir).subset(spec.limit_test)
    params = SECTIONS(spec)
    for section in sections:
        results = _RUNNERS[section](model, train_spec, spec, test, device, progress)
        persist(section, params[section], results)


def _clean(
    model: torch.nn.Module,
    ts: TrainSpec,
    spec: EvalSpec,
    test: ImageDataset,
    device: torch.device,
    progress: bool,
) -> dict[str, Any]:
    from selrob.analysis.robustness import accuracy
    from selrob.analysis.selectivity_dist import dataset_selectivity

    acc, n = accuracy(model, batches(test, spec.eval_batch_size, device=device))
    sel = dataset_selectivity(
        model,
        batches(test, spec.eval_batch_size, device=device),
        test.num_classes,
        layers=ts.units,
        progress=progress,
    )
    sel.pop("per_unit", None)
    return {"clean_accuracy": acc, "n_test": n, "selectivity": sel}


def _corruptions(
    model: torch.nn.Module,
    ts: TrainSpec,
    spec: EvalSpec,
    test: ImageDataset,
    device: torch.device,
    progress: bool,
) -> dict[str, Any]:
    from selrob.analysis.robustness import corruption_accuracy, summarize_corruptions

    names = expand_corruptions(spec.corruptions, test.shape[0])
    if spec.corrupted_dir:
        from selrob.analysis.robustness import accuracy, published_corruption_accuracy

        clean, n = accuracy(model, batches(test, spec.eval_batch_size, device=device))
        load = published_loader(ts.dataset, Path(spec.corrupted_dir), test)
        recs = [{"corruption": "clean", "severity": 0, "accuracy": clean, "n": n}]
        recs += published_corruption_accuracy(
            model,
            load,
            names,
            spec.severities,
            limit=spec.limit_test,
            batch_size=spec.eval_batch_size,
            device=device,
            progress=progress,
        )
    else:
        recs = corruption_accuracy(
            model,
            test,
            names,
            spec.severities,
            batch_size=spec.eval_batch_size,
            seed=ts.seed,
            device=device,
            progress=progress,
        )
    return {
        "corruptions": [r for r in recs if r["corruption"] != "clean"],
        **summarize_corruptions(recs),
    }


def published_loader(
    dataset: str, root: Path, test: ImageDataset
) -> Callable[[str, int], ImageDataset]:
    """(corruption, severity) -> ImageDataset for the published layout matching ``dataset``."""
    from selrob.data.corrupted_sets import load_npy_corrupted, load_tinyimagenet_c

    if dataset == "tinyimagenet":
        return lambda c, s: load_tinyimagenet_c(root, c, s, None, test.classes)
    return lambda c, s: load_npy_corrupted(root, c, s, test.classes, f"{dataset}-c")


def epsilons_for(spec: EvalSpec, dataset: str) -> list[float]:
    """The spec's epsilons, or the dataset's default grid for the spec's norm."""
    from selrob.analysis.adversarial import default_epsilons

    eps = list(spec.epsilons) if spec.epsilons else default_epsilons(dataset, spec.norm)
    bad = [e for e in eps if not (e >= 0 and e != float("inf"))]
    if bad:
        raise InvalidArgument(
            f"epsilon {bad[0]} is negative or not finite; pass budgets >= 0 in pixel units, e.g. 8/255"
        )
    return eps


def attack_generator(seed: int) -> torch.Generator:
    """Random starts of every attack in an evaluation (fixed by the run seed)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + 7)


def _attacks(
    model: torch.nn.Module,
    ts: TrainSpec,
    spec: EvalSpec,
    test: ImageDataset,
    device: torch.device,
    progress: bool,
) -> dict[str, Any]:
    from selrob.analysis.adversarial import adversarial_accuracy

    eps = epsilons_for(spec, ts.dataset)
    records: list[dict[str, Any]] = []
    for name in spec.attacks:
        records += adversarial_accuracy(
            model, batches(test, spec.eval_batch_size, device=device), name, eps, norm=spec.norm, steps=spec.pgd_steps,
            step_size=spec.pgd_step_size, restarts=spec.pgd_restarts, generator=attack_generator(ts.seed), device=device, progress=progress,
        )  # fmt: skip
    return {"attacks": records}


def pooled_corruption(
    names: Sequence[str], severity: int, seed: int
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A perturbation giving image i of the stream corruption ``names[i % K]`` at ``severity``:
    an equal mix of the whole suite in one sample the size of the clean one."""
    from selrob.analysis.robustness import corruption_generator
    from selrob.perturb.corruptions import corrupt

    state = {"start": 0}

    def fn(x: torch.Tensor, _y: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        which = (torch.arange(x.shape[0]) + state["start"]) % len(names)
        for k, name in enumerate(names):
            idx = (which == k).nonzero().flatten()
            if len(idx):
                gen = corruption_generator(seed, name, severity, 10_000 + state["start"])
                out[idx.to(x.device)] = corrupt(x[idx.to(x.device)], name, severity, generator=gen)
        state["start"] += x.shape[0]
        return out

    return fn


def _dimensionality(
    model: torch.nn.Module,
    ts: TrainSpec,
    spec: EvalSpec,
    test: ImageDataset,
    device: torch.device,
    progress: bool,
) -> dict[str, Any]:
    from selrob.analysis.dimensionality import layer_dimensionality
    from selrob.perturb.attacks import attack

    sample = test.subset(spec.analysis_samples)
    names = expand_corruptions(spec.corruptions or ["all"], test.shape[0])
    eps = analysis_epsilon(spec, ts.dataset)
    gen = attack_generator(ts.seed + 1)

    def adversarial(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return attack(
            model,
            x,
            y,
            "pgd",
            [eps],
            spec.norm,
            steps=spec.pgd_steps,
            step_size=spec.pgd_step_size,
            generator=gen,
        )[eps]

    perturbations = {
        f"corruptions@{spec.analysis_severity}": (
            "corrupted",
            pooled_corruption(names, spec.analysis_severity, ts.seed),
        ),
        f"pgd-{spec.norm}@{eps:.4g}": ("adversarial", adversarial),
    }
    records = layer_dimensionality(
        model,
        batches(sample, spec.eval_batch_size, device=device),
        perturbations,
        layers=ts.units,
        # exact PCA while the sample is small (Gram route, N x N); a fixed seeded feature
        # budget beyond, so networks are compared at the same budget (see dimensionality.py)
        max_features=None if len(sample) <= EXACT_PCA_SAMPLES else 2048,
        progress=progress,
    )
    return {"dimensionality": records}


EXACT_PCA_SAMPLES = 2000


def analysis_epsilon(spec: EvalSpec, dataset: str) -> float:
    """The attack budget of the mechanism analyses: given, or the middle non-zero epsilon of the grid."""
    if spec.analysis_epsilon is not None:
        if not spec.analysis_epsilon > 0:
            raise InvalidArgument(f"analysis_epsilon must be > 0, got {spec.analysis_epsilon}")
        return float(spec.analysis_epsilon)
    grid = [e for e in epsilons_for(spec, dataset) if e > 0]
    return grid[(len(grid) - 1) // 2]


def _gradients(
    model: torch.nn.Module,
    ts: TrainSpec,
    spec: EvalSpec,
    test: ImageDataset,
    device: torch.device,
    progress: bool,
) -> dict[str, Any]:
    from selrob.analysis.gradients import gradient_variability

    x = test.subset(spec.gradient_samples).images.to(device).float() / 255
    return {
        "gradients": gradient_variability(
            model,
            x,
            layers=ts.units,
            generator=torch.Generator().manual_seed(ts.seed),
            progress=progress,
        )
    }


_RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "clean": _clean, "corruptions": _corruptions, "attacks": _attacks, "dimensionality": _dimensionality, "gradients": _gradients,
}  # fmt: skip
