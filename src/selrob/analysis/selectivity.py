"""Dataset-level class selectivity per layer, with the distribution over units.

The selectivity index of each unit (``selrob.selectivity``; Leavitt & Morcos 2020, after
Morcos et al. 2018) is computed from class-conditional means accumulated over a whole dataset
(:class:`~selrob.selectivity.SelectivityAccumulator` keeps per-class sums, never the
activations). ``mean`` is the network selectivity: the mean over layers of each layer's mean SI.
Histograms use ``bins`` equal bins on [0, 1] (numpy's convention: the last bin includes 1);
SI lies in [0, 1] for non-negative activations, and values outside it (possible only for
layers with negative activations, picked with custom ``units`` globs) are clipped into the
end bins so that the counts always sum to the number of units.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from selrob.errors import InvalidArgument
from selrob.models.common import accuracy, model_device, peek
from selrob.models.fold import frozen_for
from selrob.selectivity import SelectivityAccumulator
from selrob.units import UnitRecorder

__all__ = ["clean_pass", "dataset_selectivity", "selectivity_histogram"]


def selectivity_histogram(si: torch.Tensor | np.ndarray, bins: int = 20) -> dict[str, list]:
    """``{"edges": bins + 1 floats on [0, 1], "counts": bins ints}`` of per-unit SI values."""
    if bins < 1:
        raise InvalidArgument(f"bins must be >= 1, got {bins}")
    values = np.clip(np.asarray(si, dtype=np.float64).ravel(), 0.0, 1.0)
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    return {"edges": [round(float(e), 12) for e in edges], "counts": [int(c) for c in counts]}


def clean_pass(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    *,
    units: str = "default",
    bins: int = 20,
    progress: bool = False,
    autocast: torch.dtype | None = None,
) -> tuple[float, int, dict]:
    """Accuracy and selectivity in one pass over ``batches`` (model in eval mode, restored).

    batches: iterable of ``(x (B, C, H, W) float in [0, 1], y (B,) int64 in [0, num_classes))``.
    Returns ``(accuracy, n, selectivity)`` with ``selectivity`` as in :func:`dataset_selectivity`.
    ``autocast``: forward passes under ``torch.autocast`` in that dtype (e.g. bfloat16).
    """
    if num_classes < 2:
        raise InvalidArgument(f"num_classes must be >= 2, got {num_classes}")
    device = model_device(model)
    acc = SelectivityAccumulator(num_classes)
    first, data = peek((x.to(device), y.to(device)) for x, y in batches)
    net = frozen_for(model, first[0]) if first is not None else model  # keeps module names
    bar = tqdm(data, desc="selectivity", disable=not progress, leave=False)
    with UnitRecorder(net, units) as rec:
        correct, n = accuracy(net, bar, observe=lambda _logits, y: acc.update(rec.acts, y),
                              autocast=autocast)  # fmt: skip
    if not acc.sums:
        raise InvalidArgument("no batches given for selectivity; pass a non-empty iterable")
    per_unit = acc.per_unit()
    mean, per_layer = acc.summary()
    return (
        correct,
        n,
        {
            "mean": mean,
            "per_layer": per_layer,
            "histograms": {k: selectivity_histogram(v, bins) for k, v in per_unit.items()},
            "per_unit": {k: [float(s) for s in v] for k, v in per_unit.items()},
        },
    )


def dataset_selectivity(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    *,
    units: str = "default",
    bins: int = 20,
    progress: bool = False,
) -> dict:
    """Selectivity of every recorded layer over all ``batches`` (model in eval mode, restored).

    batches: iterable of ``(x (B, C, H, W) float in [0, 1], y (B,) int64 in [0, num_classes))``.
    Returns a JSON-ready dict: ``{"mean": float, "per_layer": {layer: float},
    "histograms": {layer: {"edges", "counts"}}, "per_unit": {layer: [float, ...]}}``.
    """
    return clean_pass(model, batches, num_classes, units=units, bins=bins, progress=progress)[2]
