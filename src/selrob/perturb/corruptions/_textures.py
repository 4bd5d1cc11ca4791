"""Procedural textures for the weather corruptions: the plasma fractal (fog) and frost.

Plasma: the diamond-square fractal of the published generators (Hendrycks & Dietterich, 2019),
batched. Frost: the published frost corruption blends in crops of six photographs of frost on
glass (five used at CIFAR-10 / Tiny-ImageNet scale); those photographs are not ours to ship, so
:func:`frost_texture` synthesises a stand-in with similar structure: bright, thin, locally
aligned ice needles with side branches at +-60 degrees (hexagonal ice), patchy coverage and
fine grain, pale blue-white, mean about 0.45 (std about 0.16). It is deterministic per seed
and periodic (crops may wrap). Its look resembles the photographs; its statistics are our
choice, not measured from them, so frost accuracies are comparable only to our own runs.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from selrob.errors import InvalidArgument

FROST_BASE_SIZE = 384
"""Side (px) of a synthetic frost 'photograph' before the table's texture scale is applied."""

FROST_TEXTURES = 5
"""Number of frost textures drawn from, like the five photographs the published code uses."""

_FROST_TINT = (0.86, 0.93, 1.0)  # pale blue-white: R < G < B, like frost on a window


def plasma_fractal(
    n: int,
    mapsize: int,
    wibble_decay: float,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """(n, mapsize, mapsize) diamond-square plasma maps of ``dtype``, each rescaled to [0, 1].

    Toroidal diamond-square as in the published ``plasma_fractal``: start from 0, and at each
    step size s (mapsize, mapsize/2, ..., 2) set square centres to the mean of their 4 corners,
    then diamond points to the mean of their 4 neighbours, each plus ``wibble * U(-wibble,
    wibble)`` (the published quirk: amplitude wibble squared); wibble starts at 100 and is
    divided by ``wibble_decay`` after each step, so larger decay gives smoother maps. Drawn on
    the generator's device.
    """
    if mapsize < 2 or mapsize & (mapsize - 1):
        raise InvalidArgument(f"plasma mapsize must be a power of two >= 2, got {mapsize}")
    dev = generator.device
    m = torch.zeros(n, mapsize, mapsize, dtype=dtype, device=dev)
    step, wibble = mapsize, 100.0

    def jitter(like: Tensor) -> Tensor:
        u = torch.rand(like.shape, generator=generator, device=dev, dtype=dtype)
        return u.mul_(2.0 * wibble * wibble).sub_(wibble * wibble)

    while step >= 2:
        half = step // 2
        corner = m[:, ::step, ::step]
        ring = corner + corner.roll(-1, dims=1)
        ring = ring + ring.roll(-1, dims=2)
        m[:, half::step, half::step] = ring / 4 + jitter(ring)
        centre, corner = m[:, half::step, half::step], m[:, ::step, ::step]
        top = centre + centre.roll(1, dims=1) + corner + corner.roll(-1, dims=2)
        m[:, ::step, half::step] = top / 4 + jitter(top)
        left = centre + centre.roll(1, dims=2) + corner + corner.roll(-1, dims=1)
        m[:, half::step, ::step] = left / 4 + jitter(left)
        step, wibble = half, wibble / wibble_decay
    m = m.sub_(m.amin(dim=(1, 2), keepdim=True))
    return m.div_(m.amax(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(dtype).tiny))


def _smooth_noise(size: int, scale: float, generator: torch.Generator) -> Tensor:
    """(size, size) periodic Gaussian-filtered white noise (std ``scale`` px), standardised."""
    noise = torch.randn(size, size, generator=generator, dtype=torch.float64)
    f = torch.fft.fftfreq(size, dtype=torch.float64)
    gain = torch.exp(-2 * (math.pi * scale) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    field = torch.fft.ifft2(torch.fft.fft2(noise) * gain).real
    return (field - field.mean()) / field.std().clamp_min(1e-12)


def _splat(size: int, rows: Tensor, cols: Tensor, value: Tensor) -> Tensor:
    """(size, size) sum of ``value`` at the nearest pixels of points (rows, cols), periodic."""
    r = torch.remainder(torch.round(rows).long(), size)
    c = torch.remainder(torch.round(cols).long(), size)
    out = torch.zeros(size * size, dtype=torch.float64)
    return out.index_add_(0, (r * size + c).reshape(-1), value.reshape(-1)).reshape(size, size)


def _segments(
    r0: Tensor, c0: Tensor, angle: Tensor, length: Tensor, bright: Tensor, size: int
) -> Tensor:
    """Splat straight segments from (r0, c0) at ``angle`` of ``length`` px (half-px steps)."""
    t = torch.arange(0.0, float(length.max()) + 0.5, 0.5, dtype=torch.float64)
    on = t <= length[..., None]
    rows = r0[..., None] + t * torch.sin(angle)[..., None]
    cols = c0[..., None] + t * torch.cos(angle)[..., None]
    return _splat(size, rows, cols, 0.5 * bright[..., None] * on)


def frost_texture(size: int = FROST_BASE_SIZE, seed: int = 0) -> Tensor:
    """(3, size, size) float32 synthetic frost in [0, 1], periodic, deterministic per seed.

    Ice needles grow from random seeds along a smooth orientation field (lengths up to
    size/5); each carries tapering side branches at +-60 degrees (feathery, like hexagonal
    ice). Their density saturates to a brightness, a smooth coverage map makes dense and sparse
    patches, a little fine grain is added, and the grey level is tinted pale blue-white.
    """
    if size < 16:
        raise InvalidArgument(f"frost texture size must be >= 16 px, got {size}")
    g = torch.Generator().manual_seed(int(seed) + 7_919)

    def rand(*shape: int) -> Tensor:
        return torch.rand(shape, generator=g, dtype=torch.float64)

    theta = 0.5 * math.pi * _smooth_noise(size, size / 6, g)
    cover = torch.sigmoid(2.0 * _smooth_noise(size, size / 10, g) + 0.5)
    k = max(4, size * size // 500)
    r0, c0 = rand(k) * size, rand(k) * size
    angle = theta[r0.long(), c0.long()] + 0.3 * (rand(k) - 0.5) + math.pi * (rand(k) < 0.5)
    length = (0.25 + 0.75 * rand(k)) * size / 5
    bright = 0.5 + 0.5 * rand(k)
    ice = _segments(r0, c0, angle, length, bright, size)
    nb = 8  # branch pairs per needle, tapering towards the tip
    frac = (torch.arange(1, nb + 1, dtype=torch.float64) / (nb + 1))[None, :]
    br = r0[:, None] + frac * length[:, None] * torch.sin(angle)[:, None]
    bc = c0[:, None] + frac * length[:, None] * torch.cos(angle)[:, None]
    blen = 0.35 * (1 - frac) * length[:, None] * (0.5 + rand(k, nb))
    for turn in (math.pi / 3, -math.pi / 3):
        ba = angle[:, None] + turn + 0.2 * (rand(k, nb) - 0.5)
        ice = ice + _segments(br, bc, ba, blen, 0.7 * bright[:, None].expand(k, nb), size)
    ice = 1.0 - torch.exp(-1.5 * ice)
    grain = _smooth_noise(size, 0.7, g)
    grey = 0.28 + 0.2 * cover + 0.7 * cover * ice + 0.04 * grain
    tint = torch.tensor(_FROST_TINT, dtype=torch.float64)[:, None, None]
    return (grey.clamp(0.0, 1.0)[None] * tint).clamp(0.0, 1.0).to(torch.float32)


@lru_cache(maxsize=1)
def _base_bank() -> Tensor:
    return torch.stack([frost_texture(FROST_BASE_SIZE, seed) for seed in range(FROST_TEXTURES)])


@lru_cache(maxsize=8)
def frost_bank(scale: float) -> Tensor:
    """(5, 3, S, S) float32 frost textures shrunk by ``scale`` (S = round(384 scale)), on CPU.

    Shrinking is bilinear without anti-aliasing, like the published ``cv2.resize(fx=scale)``.
    Cached: treat the result as read-only.
    """
    if not 0 < scale <= 1:
        raise InvalidArgument(f"frost texture scale must be in (0, 1], got {scale}")
    bank = _base_bank()
    side = max(1, int(round(FROST_BASE_SIZE * scale)))
    if side == FROST_BASE_SIZE:
        return bank
    return F.interpolate(bank, size=(side, side), mode="bilinear", align_corners=False)
