"""Noise corruptions (Hendrycks & Dietterich, 2019), batched in torch.

Every function takes ``x: (N, C, H, W)`` float in [0, 1], one severity row of
:mod:`selrob.perturb.corruption_tables` and a ``torch.Generator``; it returns a tensor of the
same shape, clipped to [0, 1]. Noise is drawn on the generator's device and moved to ``x``'s,
so one CPU generator drives CPU and GPU inputs alike. Each value (pixel and channel) gets an
independent draw, as in the published generators.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _randn(x: Tensor, generator: torch.Generator) -> Tensor:
    """Standard normal draws shaped like ``x`` (same dtype and device as ``x``)."""
    z = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return z.to(x.device)


def _rand(x: Tensor, generator: torch.Generator) -> Tensor:
    """Uniform [0, 1) draws shaped like ``x`` (same dtype and device as ``x``)."""
    u = torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return u.to(x.device)


def gaussian_noise(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """Additive white noise: ``clip(x + N(0, sigma^2))``; ``sigma`` in [0, 1] pixel units."""
    return _randn(x, generator).mul_(sigma).add_(x).clamp_(0.0, 1.0)


def shot_noise(x: Tensor, lam: float, generator: torch.Generator) -> Tensor:
    """Photon (Poisson) noise: ``clip(Poisson(x * lam) / lam)``; variance ``x / lam``.

    ``lam`` is the photon count of a white value: larger means less noise.
    """
    rates = (x * lam).to(device=generator.device, dtype=torch.float32)
    counts = torch.poisson(rates, generator=generator).to(device=x.device, dtype=x.dtype)
    return counts.div_(lam).clamp_(0.0, 1.0)


def impulse_noise(x: Tensor, amount: float, generator: torch.Generator) -> Tensor:
    """Salt-and-pepper noise on a fraction ``amount`` of the values, half salt, half pepper.

    Each channel value is replaced independently with probability ``amount`` (the default of
    ``skimage.util.random_noise(mode='s&p')``, salt_vs_pepper = 0.5): by 1 (salt) or 0 (pepper)
    with equal probability.
    """
    # One uniform u per value: flipped iff u < amount; given that, u / amount is uniform on
    # [0, 1), so salt iff u < amount / 2 is an independent fair coin.
    u = _rand(x, generator)
    return x.masked_fill(u < amount, 0.0).masked_fill_(u < 0.5 * amount, 1.0)


def speckle_noise(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """Multiplicative noise: ``clip(x + x * N(0, sigma^2))``; perturbation std ``x * sigma``."""
    return _randn(x, generator).mul_(sigma).add_(1.0).mul_(x).clamp_(0.0, 1.0)
