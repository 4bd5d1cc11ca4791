"""Random draws for perturbations, from an explicit ``torch.Generator`` only.

Every draw is made on the generator's device and then moved to the target's, so one CPU
generator drives CPU and GPU inputs alike and a seed gives the same numbers on either. Shared
by the corruptions and the attacks' random starts.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def _draw(
    fn: Callable[..., Tensor],
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator,
    like: Tensor | None,
    dtype: torch.dtype | None,
) -> Tensor:
    dtype = like.dtype if like is not None else dtype
    out = fn(shape, generator=generator, device=generator.device, dtype=dtype)
    return out.to(like.device) if like is not None else out


def rand(shape: tuple[int, ...] | torch.Size, generator: torch.Generator, *,
         like: Tensor | None = None, dtype: torch.dtype | None = None) -> Tensor:  # fmt: skip
    """U[0, 1) draws of ``shape``: dtype and device of ``like`` when given, else ``dtype`` on
    the generator's device."""
    return _draw(torch.rand, shape, generator, like, dtype)


def randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator, *,
          like: Tensor | None = None, dtype: torch.dtype | None = None) -> Tensor:  # fmt: skip
    """Standard normal draws of ``shape``; dtype and device as in :func:`rand`."""
    return _draw(torch.randn, shape, generator, like, dtype)


def uniform(
    shape: tuple[int, ...],
    lo: float,
    hi: float,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """U(lo, hi) draws on the generator's device (callers move them where they are needed)."""
    return rand(shape, generator, dtype=dtype).mul_(hi - lo).add_(lo)
