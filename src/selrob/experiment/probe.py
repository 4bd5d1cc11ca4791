"""Measuring a model selrob did not train: :func:`measure` (in memory) and :func:`probe` (into a
run directory of the usual schema, named by its :class:`~selrob.probe_spec.ProbeSpec`).

Both run the evaluation sections of :mod:`.sections` (selectivity per layer, corruptions,
attacks, dimensionality, gradients, with every robustness measure), so a probed model's
numbers are computed exactly as a trained run's. The model must map float images
``(N, C, H, W)`` in [0, 1] to logits ``(N, classes)`` (``normalize`` adds the model's expected
input normalisation), and its units are named by module-name globs unless it lists
``unit_layers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from selrob import paths
from selrob.config import EvalSpec, Runtime, spec_hash, to_dict
from selrob.data import ImageDataset, load_dataset, to_float
from selrob.devices import resolve_device
from selrob.enums import RunStatus
from selrob.errors import InvalidArgument
from selrob.experiment.evaluation import plan, run_sections
from selrob.experiment.lock import RunLock
from selrob.experiment.provenance import provenance
from selrob.experiment.rundir import load_metrics
from selrob.experiment.sections import SECTIONS, Context
from selrob.models.foreign import (
    add_normalization,
    candidate_units,
    check_output,
    from_factory,
    load_state,
    sha256_file,
)
from selrob.models.scripted import ScriptedModel, load_torchscript
from selrob.probe_spec import TORCHSCRIPT, ProbeSpec
from selrob.storage import write_json_atomic
from selrob.units import unit_layer_names


def _dataset(data: ImageDataset | str | tuple[torch.Tensor, torch.Tensor],
             data_dir: str | None) -> ImageDataset:  # fmt: skip
    """A test set from a dataset name, an ImageDataset, or (images, labels) tensors (float
    images in [0, 1] are stored as uint8 pixels, as every selrob dataset is)."""
    if isinstance(data, ImageDataset):
        return data
    if isinstance(data, str):
        return load_dataset(data, "test", data_dir)
    x, y = data
    if x.is_floating_point():
        x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    classes = tuple(str(c) for c in range(int(y.max()) + 1))
    return ImageDataset(x.cpu(), y.long().cpu(), classes, "custom")


def check_units(model: nn.Module, units: str, sample: torch.Tensor) -> list[str]:
    """The unit modules' names; one line listing candidate names when ``units`` finds none."""
    try:
        return unit_layer_names(model, units)
    except InvalidArgument as e:
        found = candidate_units(model, sample)
        hint = f"; candidates: {', '.join(found)}" if found else ""
        raise InvalidArgument(f"{e}{hint}") from None


def measure(model: nn.Module, data: ImageDataset | str | tuple[torch.Tensor, torch.Tensor],
            spec: EvalSpec | None = None, *, units: str = "default", seed: int = 0,
            data_dir: str | None = None, device: str = "cpu",
            progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Every section ``spec`` asks for (the clean pass and selectivity always) on ``model``;
    ``spec`` None: the clean pass only.

    Returns the ``evaluation`` record that ``metrics.json`` stores (clean_accuracy,
    selectivity, corruptions, attacks, attack_measures, dimensionality, gradients, ...).
    ``seed`` seeds the corruption noise, attack starts and subsets as a run's seed does.
    With (images, labels) tensors there is no dataset to take default epsilon grids from:
    give ``spec.epsilons`` when ``spec.attacks`` is set.
    """
    spec = spec if spec is not None else EvalSpec()
    if isinstance(model, torch.jit.ScriptModule):  # hooks need the stand-ins (models.scripted)
        model = ScriptedModel(model, _script_taps(units))
    dev = resolve_device(device)
    test = _dataset(data, data_dir).subset(spec.limit_test)
    model = model.to(dev).eval()
    sample = to_float(test.images[:2], dev)
    check_output(model, sample, test.num_classes)
    check_units(model, units, sample)
    todo = plan(spec)
    ident = ProbeSpec(model_source="python:measure", dataset=test.name, units=units, seed=seed)
    ctx = Context(model, ident, spec, test, dev, progress)
    out: dict[str, Any] = {}
    for name in todo:
        out.update(SECTIONS.get(name).run(ctx))
    return out


def _script_taps(units: str) -> str:
    """The script modules to make hookable: the unit globs, or every module while the units
    are not named yet (so the error can list candidates)."""
    return "*" if units == "default" else units


def _file_flag(spec: ProbeSpec) -> str:
    """The option that named the probe's file, for messages about it."""
    return "--torchscript" if spec.model_source == TORCHSCRIPT else "--weights"


def build_probe_model(spec: ProbeSpec, weights: Path | None, channels: int) -> nn.Module:
    """The model of ``spec``: factory, weights (checked against the recorded SHA-256), input
    normalisation."""
    if weights is not None and spec.weights_sha256 and sha256_file(weights) != spec.weights_sha256:
        raise InvalidArgument(f"{_file_flag(spec)} {weights} changed since it was probed "
                              f"(SHA-256 {spec.weights_sha256[:12]}...)")  # fmt: skip
    if spec.model_source == TORCHSCRIPT:
        if weights is None:
            raise InvalidArgument("a torchscript probe needs its file: pass --torchscript FILE")
        model: nn.Module = load_torchscript(weights, _script_taps(spec.units))
    else:
        model = from_factory(spec.model_source, spec.model_kwargs)
        if weights is not None:
            load_state(model, weights, spec.weights_key)
    if spec.normalize:
        add_normalization(model, spec.normalize, channels)
    return model.eval()


def probe(spec: ProbeSpec, eval_spec: EvalSpec, root: Path, runtime: Runtime = Runtime(), *,
          weights: Path | None = None, progress: bool = False) -> Path:  # fmt: skip
    """Measure ``spec``'s model into ``root/<hash>`` (metrics.json as a trained run's, with
    ``probe: true``); sections already stored with the same parameters are not redone.
    ``weights``: the state dict file, or the TorchScript file when ``spec.model_source`` is
    ``torchscript``."""
    if weights is not None and spec.weights_sha256 is None:
        if not Path(weights).is_file():
            raise InvalidArgument(f"{_file_flag(spec)} {weights}: no such file")
        spec = ProbeSpec(**{**to_dict(spec), "weights_sha256": sha256_file(weights),
                            "normalize": tuple(spec.normalize)})  # fmt: skip
    spec.validate()
    dev = resolve_device(runtime.device)
    test = load_dataset(spec.dataset, "test", runtime.data_dir).subset(eval_spec.limit_test)
    model = build_probe_model(spec, weights, test.images.shape[1]).to(dev)
    sample = to_float(test.images[:2], dev)
    check_output(model, sample, test.num_classes)
    check_units(model, spec.units, sample)
    todo_plan = plan(eval_spec)
    run_dir = paths.run_dir(Path(root).expanduser().resolve(), spec_hash(spec))
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(run_dir):
        if not paths.spec_file(run_dir).exists():
            write_json_atomic(paths.spec_file(run_dir), to_dict(spec))
        write_json_atomic(paths.meta_file(run_dir), provenance(dev))
        evaluation = dict(load_metrics(run_dir).get("evaluation", {}))
        done = evaluation.get("_done", {})
        write_json_atomic(paths.metrics_file(run_dir), {"status": RunStatus.RUNNING, "probe": True,
                                                        "epochs": [], "evaluation": evaluation})  # fmt: skip
        todo = [name for name, params in todo_plan.items() if done.get(name) != params]
        ctx = Context(model, spec, eval_spec, test, dev, progress)
        evaluation = run_sections(run_dir, ctx, todo, todo_plan, evaluation)
        sel = evaluation.get("selectivity", {})
        write_json_atomic(paths.metrics_file(run_dir), {
            "status": RunStatus.COMPLETE, "reason": None, "probe": True, "epochs": [],
            "test_accuracy": evaluation.get("clean_accuracy"),
            "mean_selectivity": sel.get("mean") if isinstance(sel, dict) else None,
            "evaluation": evaluation})  # fmt: skip
    return run_dir
