"""Blur corruptions (Hendrycks & Dietterich, 2019): defocus, glass, motion, zoom, and the extra
gaussian_blur, batched in torch.

``x: (N, C, H, W)`` float in [0, 1] (C = 1 or 3, H, W >= 28); ``params`` is one severity row
of :mod:`selrob.perturb.corruptions.tables`; random numbers come only from ``generator``
(drawn on its device, then moved to ``x``'s). Outputs have ``x``'s shape, dtype and device,
in [0, 1] and stay float: the published uint8 casts (also glass blur's between its two
Gaussian passes) are not reproduced; each shifts values by < 1/255. Formulas follow the
published generators:

- gaussian_blur: ``skimage.filters.gaussian`` = ``scipy.ndimage.gaussian_filter`` per channel,
  truncate 4, border 'nearest' (skimage's default).
- defocus_blur: a disk of radius r on a 17 x 17 grid (2r + 1 when r > 8), normalised, then
  anti-aliased by a 3 x 3 (5 x 5 when r > 8) Gaussian of sigma ``alias`` as OpenCV's
  GaussianBlur does it (border reflect-101), applied per channel with border reflect-101
  (OpenCV filter2D's default); the kernel is not renormalised after the alias blur. The
  non-separable disk is split by SVD into a few separable terms (rank 1-3 at 32 and 64 px,
  up to 7 at 224 px), exact to rounding.
- glass_blur, motion_blur, zoom_blur: see each function.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from selrob.perturb._random import uniform
from selrob.perturb.corruptions._filters import (
    apply_separable,
    axis_matrix,
    clipped_zoom,
    gaussian_filter,
    motion_blur_at,
    zoom_operator,
)
from selrob.perturb.corruptions._registry import register

_DENSE_ZOOM_MAX = 1024  # zoom blur uses one (HW, HW) operator up to 32 x 32 px images
_GLASS_CHUNK = 30_000  # images x wave length per step of the glass swaps (stays single-threaded)


@register("gaussian_blur")
def gaussian_blur(x: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """Separable Gaussian blur of std ``sigma`` px, border 'nearest'. Returns (N, C, H, W)."""
    return gaussian_filter(x, float(sigma)).clamp_(0.0, 1.0)


@lru_cache(maxsize=64)
def defocus_kernel(radius: float, alias: float) -> Tensor:
    """The anti-aliased disk kernel (float64, cropped to its non-zero support, odd square)."""
    half = 8 if radius <= 8 else math.ceil(radius)
    t = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius**2).to(torch.float64)
    disk = disk / disk.sum()
    ksize = 3 if radius <= 8 else 5
    u = torch.arange(ksize, dtype=torch.float64) - (ksize - 1) / 2
    g = torch.exp(-(u**2) / (2 * alias**2))
    g = g / g.sum()
    pad = ksize // 2
    d = F.pad(disk[None, None], (pad, pad, pad, pad), mode="reflect")
    d = F.conv2d(d, g[None, None, None, :])
    d = F.conv2d(d, g[None, None, :, None])[0, 0]
    nz = torch.nonzero(d)
    r = int((nz - half).abs().max())
    return d[half - r : half + r + 1, half - r : half + r + 1].clone()


@lru_cache(maxsize=128)
def _defocus_terms(radius: float, alias: float, h: int, w: int) -> list[tuple[Tensor, Tensor]]:
    # K = sum_r s_r u_r v_r^T (SVD): a few separable passes replace one 2-D correlation.
    u, s, vt = torch.linalg.svd(defocus_kernel(radius, alias))
    keep = s > 1e-12 * s[0]
    return [
        (axis_matrix(s[i] * u[:, i], h, "mirror"), axis_matrix(vt[i], w, "mirror"))
        for i in range(int(keep.sum()))
    ]


@register("defocus_blur")
def defocus_blur(
    x: Tensor, params: tuple[float, float], generator: torch.Generator | None = None
) -> Tensor:
    """Defocus: per-channel filtering with the anti-aliased disk ``(radius, alias)`` px."""
    terms = _defocus_terms(float(params[0]), float(params[1]), x.shape[2], x.shape[3])
    return apply_separable(x, terms).clamp_(0.0, 1.0)


@lru_cache(maxsize=32)
def _glass_waves(h: int, w: int, d: int) -> tuple[tuple[Tensor, Tensor, Tensor], ...]:
    """The published swap loop's visits grouped into independent wavefronts, in order.

    The loop visits rows ``H-d .. d+1`` and, in each, columns ``W-d .. d+1`` (descending); a
    visit touches rows/columns within ``[-d, d-1]`` of itself. Visits with equal
    ``t = 2d (H-d-h) + (W-d-w)`` touch disjoint pixels, and every earlier visit that overlaps a
    later one has a smaller t, so running the waves in order of t is the sequential loop.
    Each wave: (row index a, column index b) into the offset grid, and flat pixel index.
    """
    a, b = np.meshgrid(np.arange(h - 2 * d), np.arange(w - 2 * d), indexing="ij")
    t = 2 * d * a + b
    flat = (h - d - a) * w + (w - d - b)
    return tuple(
        (torch.from_numpy(a[t == v]), torch.from_numpy(b[t == v]), torch.from_numpy(flat[t == v]))
        for v in np.unique(t)
    )


def glass_offsets(
    n: int, h: int, w: int, d: int, iterations: int, generator: torch.Generator
) -> Tensor:
    """(iterations, H-2d, W-2d, 2, N) int8 offsets (dy, dx), each ``randint(-d, d)``: [-d, d-1].

    Entry ``[k, a, b, :, i]`` belongs to round k's visit of pixel ``(H-d-a, W-d-b)`` in image i.
    """
    shape = (iterations, h - 2 * d, w - 2 * d, 2, n)
    dev = generator.device
    return torch.randint(-d, d, shape, generator=generator, device=dev, dtype=torch.int8)


def glass_permutation(offsets: Tensor, h: int, w: int, d: int) -> Tensor:
    """(N, H*W) int64 source index per output pixel after the published sequential swaps.

    Each round visits pixels bottom-right to top-left and swaps each with the pixel at its
    offset; a swap can carry a pixel on to later visits, exactly as the loop does. Runs
    vectorised over images and over each wavefront of :func:`_glass_waves` (pixel-major
    layout, so a wave reads and writes whole rows).
    """
    dev, n = offsets.device, offsets.shape[-1]
    nw = w - 2 * d
    waves = [((a * nw + b).to(dev), pos.to(dev)) for a, b, pos in _glass_waves(h, w, d)]
    grid = torch.arange(h - d, d, -1, device=dev)[:, None] * w + torch.arange(
        w - d, d, -1, device=dev
    )
    step = max(1, _GLASS_CHUNK // max(len(p) for _, p in waves))
    narrow = torch.int16 if d * (w + 1) < 2**15 else torch.int32
    out = torch.empty(n, h * w, dtype=torch.int64, device=dev)
    for s0 in range(0, n, step):  # small blocks: cache-resident, no thread start-up per op
        perm = torch.arange(h * w, device=dev)[:, None].repeat(1, min(step, n - s0))  # (HW, n)
        for rnd in offsets[..., s0 : s0 + step]:  # (H-2d, W-2d, 2, n) int8
            # Flat offset dy * w + dx in a narrow int (|.| <= d (w + 1)), then int64 targets.
            shift = rnd[:, :, 0].to(narrow).mul_(w).add_(rnd[:, :, 1])
            tgt_all = shift.to(torch.int64).add_(grid[..., None]).reshape(-1, perm.shape[1])
            for visit, pos in waves:
                tgt = tgt_all.index_select(0, visit)
                here = perm.index_select(0, pos)
                perm.index_copy_(0, pos, perm.gather(0, tgt))
                perm.scatter_(0, tgt, here)
        out[s0 : s0 + step] = perm.T
    return out


@register("glass_blur")
def glass_blur(x: Tensor, params: tuple[float, int, int], generator: torch.Generator) -> Tensor:
    """Gaussian blur, local pixel swaps, Gaussian blur; params (sigma px, max offset d, iterations).

    Swaps reproduce the published sequential loop exactly, not an approximation (see
    :func:`glass_permutation`): one draw per visited pixel, round and image, offsets in
    [-d, d-1] (the ``randint`` quirk kept), and swapped pixels carried on by later visits, so
    a few pixels travel far (at d = 1, one round: mean 1.4 px, 1% beyond 6 px). Both blurs are
    skimage's (mode 'nearest', truncate 4); the uint8 cast between them is not reproduced.
    """
    sigma, d, iterations = float(params[0]), int(params[1]), int(params[2])
    n, c, h, w = x.shape
    y = gaussian_filter(x, sigma)
    offsets = glass_offsets(n, h, w, d, iterations, generator)
    perm = glass_permutation(offsets, h, w, d).to(x.device)
    y = y.reshape(n, c, h * w).gather(2, perm[:, None, :].expand(n, c, h * w))
    return gaussian_filter(y.reshape(n, c, h, w), sigma).clamp_(0.0, 1.0)


@register("motion_blur")
def motion_blur(x: Tensor, params: tuple[float, float], generator: torch.Generator) -> Tensor:
    """Motion blur at one angle U(-45, 45) degrees per image; params (radius px, sigma px)."""
    angles = uniform((x.shape[0],), -45.0, 45.0, generator)
    return motion_blur_at(x, float(params[0]), float(params[1]), angles).clamp_(0.0, 1.0)


def zoom_factors(end: float, step: float) -> list[float]:
    """The published factor list ``numpy.arange(1, end, step)`` (float quirk kept)."""
    return [float(v) for v in np.arange(1, end, step)]


@lru_cache(maxsize=32)
def _zoom_blur_operator(h: int, w: int, factors: tuple[float, ...]) -> Tensor:
    """(HW, HW) float64 operator ``(I + sum_z kron(Zh_z, Zw_z)) / (len + 1)``."""
    total = torch.eye(h * w, dtype=torch.float64)
    for z in factors:
        total += torch.kron(zoom_operator(h, z), zoom_operator(w, z))
    return total / (len(factors) + 1)


@lru_cache(maxsize=32)
def _zoom_blur_csr(h: int, w: int, factors: tuple[float, ...], dtype: torch.dtype) -> Tensor:
    """:func:`_zoom_blur_operator` as a sparse CSR matrix (about 5-15 non-zeros per row)."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return _zoom_blur_operator(h, w, factors).to(dtype).to_sparse_csr()


@register("zoom_blur")
def zoom_blur(
    x: Tensor, params: tuple[float, float], generator: torch.Generator | None = None
) -> Tensor:
    """Mean of ``x`` and its centre zooms at ``numpy.arange(1, end, step)``; params (end, step).

    The float arange keeps the end point at 32/64-px severities 1-2 and drops it at 3-5, as
    published. Up to 32 x 32 px the whole blur is one (HW, HW) linear operator; it has only a
    few non-zeros per row (bilinear taps of zooms near 1 overlap), so on CPU it is applied as a
    sparse CSR product (faster than the dense one, ``benchmarks/corruptions.py``); elsewhere dense. Larger images
    sum per-factor separable zooms. Deterministic (``generator`` unused).
    """
    factors = tuple(zoom_factors(float(params[0]), float(params[1])))
    n, c, h, w = x.shape
    if h * w <= _DENSE_ZOOM_MAX:
        flat = x.reshape(n * c, h * w)
        if x.device.type == "cpu":
            y = (_zoom_blur_csr(h, w, factors, x.dtype) @ flat.T).T
        else:
            y = flat @ _zoom_blur_operator(h, w, factors).to(x.device, x.dtype).T
        return y.reshape(n, c, h, w).clamp_(0.0, 1.0)
    acc = x.clone()
    for z in factors:
        acc += clipped_zoom(x, z)
    return (acc / (len(factors) + 1)).clamp_(0.0, 1.0)
