"""Noise corruptions (Hendrycks & Dietterich, 2019): gaussian, shot, impulse, and the extra
speckle noise, batched in torch.

Every function takes ``x: (N, C, H, W)`` float in [0, 1], one severity row of
:mod:`selrob.perturb.corruptions.tables` and a ``torch.Generator``; it returns a tensor of the
same shape, clipped to [0, 1]. Noise is drawn on the generator's device and moved to ``x``'s,
so one CPU generator drives CPU and GPU inputs alike. Each value (pixel and channel) gets an
independent draw, as in the published generators.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from selrob.perturb._random import rand, randn
from selrob.perturb.corruptions._registry import register

_POISSON_PARTS = 4  # pieces of a large shot-noise draw (fixed: the output ignores threads)
_POISSON_SPLIT_MIN = 1 << 18  # values; below this one draw from the generator itself


@register("gaussian_noise")
def gaussian_noise(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """Additive white noise: ``clip(x + N(0, sigma^2))``; ``sigma`` in [0, 1] pixel units."""
    return randn(x.shape, generator, like=x).mul_(sigma).add_(x).clamp_(0.0, 1.0)


def _poisson(rates: Tensor, generator: torch.Generator) -> Tensor:
    """``torch.poisson(rates, generator)``, split over threads for large inputs on CPU.

    Why: ``torch.poisson`` on CPU draws one value at a time on one thread (a vectorised PTRS
    sampler in torch ops measured no faster; ``benchmarks/corruptions.py``). Inputs of at least
    ``_POISSON_SPLIT_MIN`` values are cut into ``_POISSON_PARTS`` pieces, each drawn with its
    own generator seeded from ``generator``, on up to ``torch.get_num_threads()`` threads
    (the op releases the GIL). Pieces and seeds do not depend on the thread count, so a seed
    gives the same counts on 1 or 2 threads; smaller inputs use ``generator`` directly.
    """
    if generator.device.type != "cpu" or rates.numel() < _POISSON_SPLIT_MIN:
        return torch.poisson(rates, generator=generator)
    seeds = torch.randint(0, 2**62, (_POISSON_PARTS,), generator=generator).tolist()
    flat = rates.reshape(-1)
    out = torch.empty_like(flat)
    pieces = list(zip(flat.chunk(_POISSON_PARTS), out.chunk(_POISSON_PARTS), seeds, strict=True))

    def draw(piece: tuple[Tensor, Tensor, int]) -> None:
        src, dst, seed = piece
        dst.copy_(torch.poisson(src, generator=torch.Generator().manual_seed(seed)))

    workers = min(torch.get_num_threads(), len(pieces))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(draw, pieces))
    else:
        for piece in pieces:
            draw(piece)
    return out.view_as(rates)


@register("shot_noise")
def shot_noise(x: Tensor, lam: float, generator: torch.Generator) -> Tensor:
    """Photon (Poisson) noise: ``clip(Poisson(x * lam) / lam)``; variance ``x / lam``.

    ``lam`` is the photon count of a white value: larger means less noise.
    """
    rates = (x * lam).to(device=generator.device, dtype=torch.float32)
    counts = _poisson(rates, generator).to(device=x.device, dtype=x.dtype)
    return counts.div_(lam).clamp_(0.0, 1.0)


@register("impulse_noise")
def impulse_noise(x: Tensor, amount: float, generator: torch.Generator) -> Tensor:
    """Salt-and-pepper noise on a fraction ``amount`` of the values, half salt, half pepper.

    Each channel value is replaced independently with probability ``amount`` (the default of
    ``skimage.util.random_noise(mode='s&p')``, salt_vs_pepper = 0.5): by 1 (salt) or 0 (pepper)
    with equal probability.
    """
    # One uniform u per value: flipped iff u < amount; given that, u / amount is uniform on
    # [0, 1), so salt iff u < amount / 2 is an independent fair coin.
    u = rand(x.shape, generator, like=x)
    return x.masked_fill(u < amount, 0.0).masked_fill_(u < 0.5 * amount, 1.0)


@register("speckle_noise")
def speckle_noise(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """Multiplicative noise: ``clip(x + x * N(0, sigma^2))``; perturbation std ``x * sigma``."""
    return randn(x.shape, generator, like=x).mul_(sigma).add_(1.0).mul_(x).clamp_(0.0, 1.0)
