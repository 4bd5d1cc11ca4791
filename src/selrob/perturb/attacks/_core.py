"""What FGSM and PGD share: argument checks, the input gradient, the model to differentiate.

Epsilons and step sizes are in pixel units of images in [0, 1] (e.g. 8/255 for L-inf; the L2
radius is over all C*H*W values of one example).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selrob.errors import InvalidArgument
from selrob.models.fold import frozen_for

Epsilons = float | Sequence[float]


def check_eps(eps: float) -> float:
    """One budget as a float; InvalidArgument unless finite and >= 0."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise InvalidArgument(f"epsilon {eps!r} is not a number; pass e.g. 8/255") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument(f"epsilon {eps!r} must be finite and >= 0; pass e.g. 8/255")
    return value


def as_epsilons(eps: Epsilons) -> tuple[list[float], bool]:
    """``(distinct budgets in order, whether one number was given)`` for one or many epsilons."""
    if isinstance(eps, int | float) or (isinstance(eps, Tensor) and eps.dim() == 0):
        return [check_eps(float(eps))], True
    if len(eps) == 0:
        raise InvalidArgument("epsilons must be a non-empty sequence; pass e.g. [0, 2/255, 8/255]")
    return list(dict.fromkeys(check_eps(e) for e in eps)), False


def check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{name}={value!r} must be an integer >= 1")


def check_images(x: Tensor, y: Tensor) -> None:
    """x: float (N, C, H, W) in [0, 1]; y: integer labels (N,)."""
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise InvalidArgument(
            "x must be a float tensor (N, C, H, W) in [0, 1]; divide uint8 by 255"
        )
    if not isinstance(y, Tensor) or y.shape != x.shape[:1] or y.is_floating_point():
        raise InvalidArgument("y must be an integer label tensor of shape (N,) matching x")
    if x.numel() > 0:
        lo, hi = torch.aminmax(x.detach())
        if not (lo >= 0 and hi <= 1):  # also catches NaN
            raise InvalidArgument(
                f"x has values in [{lo.item():.4g}, {hi.item():.4g}]; pass images in [0, 1]"
                " (normalisation belongs inside the model)"
            )


def loss_and_grad(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Gradient of the cross-entropy w.r.t. ``x`` only: (N, ...).

    The loss is *summed* over the batch, so each example's gradient is that of its own loss,
    independent of the batch it sits in; no weight gradient is computed.
    """
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def frozen(model: nn.Module, x: Tensor) -> nn.Module:
    """The model to differentiate through: :func:`selrob.models.fold.frozen_for` (on the CPU a
    BN-folded channels_last inference copy checked on ``x[:16]``, elsewhere the model)."""
    return frozen_for(model, x)
