"""Models by name. Every model starts with :class:`Normalize` (so inputs are pixels in [0, 1])
and exposes ``unit_layers``: the module names whose outputs are the units of the paper
(stem + every residual block after its final ReLU). :mod:`selrob.units` reads that list, so the
regulariser and every analysis agree on what a unit is.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from selrob.models import resnet as _resnet  # noqa: F401  (registers resnet20, resnet18)
from selrob.models import small_cnn as _small  # noqa: F401  (registers small_cnn)
from selrob.models.common import MODELS, Normalize

__all__ = ["MODELS", "Normalize", "build_model", "model_names"]


def build_model(
    name: str,
    in_channels: int,
    num_classes: int,
    *,
    width: float = 1.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Module:
    """Build a registered model; ``mean``/``std`` (per channel) set its first Normalize layer."""
    factory = MODELS.get(name)
    mean = list(mean) if mean is not None else [0.5] * in_channels
    std = list(std) if std is not None else [0.25] * in_channels
    return factory(
        in_channels=in_channels, num_classes=num_classes, width=width, mean=mean, std=std
    )


def model_names() -> list[str]:
    return MODELS.names()
