"""Glass, motion and zoom blur and the elastic transform (Hendrycks & Dietterich, 2019), in torch.

``x: (N, C, H, W)`` float in [0, 1] (C = 1 or 3, H, W >= 28); ``params`` is one severity row of
:mod:`selrob.perturb.corruption_tables`; random numbers come only from ``generator`` (drawn on
its device, then moved to ``x``'s). Outputs have ``x``'s shape, dtype and device, in [0, 1].
Outputs stay float: the published uint8 casts (also glass blur's between its two Gaussian
passes) are not reproduced; each shifts values by < 1/255.

The linear filters shared with the weather corruptions are here too: :func:`gaussian_blur`
(scipy's ``gaussian_filter`` as an (H, H) and a (W, W) matrix product), :func:`clipped_zoom`
(the published centre crop + ``scipy.ndimage.zoom(order=1)`` + centre trim) and
:func:`motion_blur_at` (ImageMagick's motion blur: a one-sided Gaussian line kernel).
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from selrob.errors import InvalidArgument

_DENSE_ZOOM_MAX = 1024  # zoom blur uses one (HW, HW) operator up to 32 x 32 px images
_TAP_TOL = 1e-6  # motion-blur taps whose combined tail weight is below this are dropped
_MOTION_CHUNK = 4096  # images per padded block in motion blur (bounds memory)
_GLASS_CHUNK = 30_000  # images x wave length per step of the glass swaps (stays single-threaded)


def uniform(
    shape: tuple[int, ...],
    lo: float,
    hi: float,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Draws from U(lo, hi) on the generator's device."""
    u = torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)
    return u.mul_(hi - lo).add_(lo)


def _extend(idx: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Map out-of-range indices into [0, n) by a scipy.ndimage border ``mode``."""
    if mode == "nearest":
        return np.clip(idx, 0, n - 1)
    if mode == "reflect":  # half-sample symmetric: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
        m = np.mod(idx, 2 * n)
        return np.where(m >= n, 2 * n - 1 - m, m)
    if mode == "mirror":  # whole-sample symmetric (reflect-101): ... 2 1 | 0 1 ... n-1 | n-2 ...
        if n == 1:
            return np.zeros_like(idx)
        m = np.mod(idx, 2 * n - 2)
        return np.where(m >= n, 2 * n - 2 - m, m)
    raise InvalidArgument(f"unknown border mode {mode!r}; use 'nearest', 'reflect' or 'mirror'")


@lru_cache(maxsize=256)
def gaussian_matrix(n: int, sigma: float, truncate: float = 4.0, mode: str = "nearest") -> Tensor:
    """(n, n) float64 matrix of ``scipy.ndimage.gaussian_filter1d(sigma, truncate, mode)``.

    Taps ``exp(-k^2 / (2 sigma^2))`` for ``|k| <= int(truncate sigma + 0.5)``, normalised; the
    border rule is folded in, so radii larger than ``n`` are handled exactly. Cached: treat
    as read-only.
    """
    radius = int(truncate * sigma + 0.5) if sigma > 0 else 0
    k = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * k**2 / max(sigma, 1e-300) ** 2) if radius > 0 else np.ones(1)
    taps = taps / taps.sum()
    cols = _extend(np.arange(n)[:, None] + k[None, :], n, mode)
    mat = np.zeros((n, n))
    np.add.at(mat, (np.repeat(np.arange(n), len(k)), cols.ravel()), np.tile(taps, n))
    return torch.from_numpy(mat)


def gaussian_blur(x: Tensor, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> Tensor:
    """Gaussian blur of each (H, W) plane of ``x: (..., H, W)``, sigma in px (skimage/scipy)."""
    if int(truncate * sigma + 0.5) == 0 or sigma <= 0:
        return x.clone()
    mh = gaussian_matrix(x.shape[-2], float(sigma), truncate, mode).to(x.device, x.dtype)
    mw = gaussian_matrix(x.shape[-1], float(sigma), truncate, mode).to(x.device, x.dtype)
    return torch.matmul(torch.matmul(mh, x), mw.T)


@lru_cache(maxsize=256)
def zoom_operator(n: int, z: float) -> Tensor:
    """(n, n) float64 matrix of the published ``clipped_zoom`` along one axis of length n.

    Crop ``ch = ceil(n / z)`` centred pixels (top ``(n - ch) // 2``), zoom them bilinearly to
    ``round(ch z)`` samples as ``scipy.ndimage.zoom(order=1)`` does (output i reads input
    ``i (ch - 1) / (out - 1)``), and keep ``n`` centred samples (top ``(out - n) // 2``).
    Cached: treat as read-only.
    """
    if z < 1:
        raise InvalidArgument(f"zoom factor must be >= 1, got {z}")
    ch = int(math.ceil(n / z))
    top = (n - ch) // 2
    out = int(round(ch * z))
    trim = (out - n) // 2
    src = np.arange(trim, trim + n) * ((ch - 1) / (out - 1) if out > 1 else 0.0)
    i0 = np.clip(np.floor(src).astype(np.int64), 0, ch - 1)
    frac = src - i0
    mat = np.zeros((n, n))
    np.add.at(mat, (np.arange(n), top + i0), 1.0 - frac)
    np.add.at(mat, (np.arange(n), top + np.minimum(i0 + 1, ch - 1)), frac)
    return torch.from_numpy(mat)


def clipped_zoom(x: Tensor, z: float) -> Tensor:
    """Centre zoom of ``x: (N, C, H, W)`` by factor ``z >= 1``, same size (published recipe).

    As (H, H) and (W, W) matrix products: on CPU these beat two-tap gathers even at 224 px.
    """
    mh = zoom_operator(x.shape[-2], float(z)).to(x.device, x.dtype)
    mw = zoom_operator(x.shape[-1], float(z)).to(x.device, x.dtype)
    return torch.matmul(torch.matmul(mh, x), mw.T)


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


def zoom_blur(
    x: Tensor, params: tuple[float, float], generator: torch.Generator | None = None
) -> Tensor:
    """Mean of ``x`` and its centre zooms at ``numpy.arange(1, end, step)``; params (end, step).

    The float arange keeps the end point at 32/64-px severities 1-2 and drops it at 3-5, as
    published. Up to 32 x 32 px the whole blur is one (HW, HW) linear operator; it has only a
    few non-zeros per row (bilinear taps of zooms near 1 overlap), so on CPU it is applied as a
    sparse CSR product (6x faster than the dense one at 32 px); elsewhere dense. Larger images
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


def motion_weights(radius: float, sigma: float) -> list[float]:
    """ImageMagick's one-sided motion-blur taps ``exp(-i^2 / 2 sigma^2)``, normalised.

    ``2 ceil(radius) + 1`` taps (``GetOptimalKernelWidth1D``); trailing taps whose combined
    weight is below 1e-6 are dropped and the rest renormalised (a pixel moves by < 1e-6).
    """
    if radius <= 0 or sigma <= 0:
        raise InvalidArgument(f"motion blur needs radius > 0 and sigma > 0, got {radius}, {sigma}")
    k = np.exp(-(np.arange(2 * math.ceil(radius) + 1) ** 2) / (2.0 * sigma**2))
    k = k / k.sum()
    tail = np.cumsum(k[::-1])[::-1]  # tail[i] = sum of taps i..end
    keep = max(1, int(np.sum(tail >= _TAP_TOL)))
    k = k[:keep]
    return (k / k.sum()).tolist()


def motion_offsets(angles_deg: Tensor, taps: int) -> Tensor:
    """(N, taps, 2) int64 (row, col) offsets of tap i: ``ceil(i sin a - .5), ceil(i cos a - .5)``."""
    a = torch.deg2rad(angles_deg.to(torch.float64).cpu())[:, None]
    i = torch.arange(taps, dtype=torch.float64)[None, :]
    rows = torch.ceil(i * torch.sin(a) - 0.5)
    cols = torch.ceil(i * torch.cos(a) - 0.5)
    return torch.stack((rows, cols), dim=-1).to(torch.int64)


def motion_blur_at(x: Tensor, radius: float, sigma: float, angles_deg: Tensor) -> Tensor:
    """ImageMagick ``-motion-blur radius x sigma + angle`` of each image at its own angle.

    ``out(r, c) = sum_i k_i x(r + dr_i, c + dc_i)`` with :func:`motion_weights` and
    :func:`motion_offsets` (the trail points against the angle), edges replicated
    (ImageMagick's default virtual pixels). Images are sorted by angle; each tap's offset is
    then constant on runs of consecutive images, and each run is one shifted-slice add: no
    per-image loop and no dense per-image kernels.
    """
    weights = motion_weights(radius, sigma)
    offs_all = motion_offsets(angles_deg, len(weights))
    order = torch.argsort(angles_deg.cpu(), stable=True)
    out = torch.empty_like(x)
    step = _MOTION_CHUNK
    for s0 in range(0, x.shape[0], step):
        idx = order[s0 : s0 + step]
        out[s0 : s0 + step] = _shift_sum(
            x.index_select(0, idx.to(x.device)), offs_all[idx], weights
        )
    return torch.empty_like(out).index_copy_(0, order.to(x.device), out)


def _shift_sum(x: Tensor, offs: Tensor, weights: list[float]) -> Tensor:
    """``sum_i w_i x(r + offs[n, i, 0], c + offs[n, i, 1])`` with edges replicated."""
    n, _, h, w = x.shape
    top, left = max(0, -int(offs[..., 0].min())), max(0, -int(offs[..., 1].min()))
    bottom, right = max(0, int(offs[..., 0].max())), max(0, int(offs[..., 1].max()))
    xp = F.pad(x, (left, right, top, bottom), mode="replicate")
    out = torch.zeros_like(x)
    offs_np = offs.numpy()
    for i, wt in enumerate(weights):
        o = offs_np[:, i]
        cuts = (np.flatnonzero((o[1:] != o[:-1]).any(axis=1)) + 1).tolist()
        for a, b in zip([0, *cuts], [*cuts, n], strict=True):
            dr, dc = top + int(o[a, 0]), left + int(o[a, 1])
            out[a:b].add_(xp[a:b, :, dr : dr + h, dc : dc + w], alpha=wt)
    return out


def motion_blur(x: Tensor, params: tuple[float, float], generator: torch.Generator) -> Tensor:
    """Motion blur at one angle U(-45, 45) degrees per image; params (radius px, sigma px)."""
    angles = uniform((x.shape[0],), -45.0, 45.0, generator)
    return motion_blur_at(x, float(params[0]), float(params[1]), angles).clamp_(0.0, 1.0)


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
    y = gaussian_blur(x, sigma)
    offsets = glass_offsets(n, h, w, d, iterations, generator)
    perm = glass_permutation(offsets, h, w, d).to(x.device)
    y = y.reshape(n, c, h * w).gather(2, perm[:, None, :].expand(n, c, h * w))
    return gaussian_blur(y.reshape(n, c, h, w), sigma).clamp_(0.0, 1.0)


def displace(x: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
    """Bilinear sample ``x: (N, C, H, W)`` at ``(row + dy, col + dx)``; ``dx, dy: (N, H, W)`` px.

    Border 'reflect' (half-sample symmetric), i.e. ``scipy.ndimage.map_coordinates(order=1,
    mode='reflect')``: ``grid_sample`` with align_corners=False reflects about the outer
    pixel edges, where a pixel step is ``2 / size`` in normalised units.
    """
    n, c, h, w = x.shape
    eye = torch.eye(2, 3, dtype=x.dtype, device=x.device)[None]
    base = F.affine_grid(eye, [1, c, h, w], align_corners=False)[0]  # (H, W, 2)
    grid = torch.empty(n, h, w, 2, dtype=x.dtype, device=x.device)
    torch.add(base[..., 0], dx.to(x.dtype), alpha=2.0 / w, out=grid[..., 0])
    torch.add(base[..., 1], dy.to(x.dtype), alpha=2.0 / h, out=grid[..., 1])
    return _sample(x, grid, align_corners=False)


def _affine_grid(theta: Tensor, h: int, w: int) -> Tensor:
    """``F.affine_grid(theta, (N, C, H, W), align_corners=True)`` by broadcasting: (N, H, W, 2).

    ``affine_grid`` multiplies an (H W, 3) base by each (3, 2) ``theta^T`` (a batched matmul
    with inner size 3, slow on CPU); here each output coordinate is two multiply-adds.
    """
    cols, rows = (
        torch.linspace(-1.0, 1.0, size, dtype=theta.dtype, device=theta.device)
        if size > 1
        else torch.zeros(1, dtype=theta.dtype, device=theta.device)  # as affine_grid
        for size in (w, h)
    )
    grid = torch.empty(theta.shape[0], h, w, 2, dtype=theta.dtype, device=theta.device)
    for k in range(2):
        t = theta[:, k, :, None, None]  # (N, 3, 1, 1)
        g = torch.addcmul(t[:, 2], t[:, 1], rows[:, None])  # (N, H, 1)
        torch.addcmul(g, t[:, 0], cols[None, :], out=grid[..., k])
    return grid


def _sample(x: Tensor, grid: Tensor, align_corners: bool) -> Tensor:
    return F.grid_sample(
        x, grid, mode="bilinear", padding_mode="reflection", align_corners=align_corners
    )


def affine_warp(x: Tensor, pts_src: Tensor, pts_dst: Tensor) -> Tensor:
    """OpenCV ``warpAffine(x, getAffineTransform(pts_src, pts_dst))``, bilinear, reflect-101.

    ``pts_*: (N, 3, 2)`` pixel points (x = column, y = row); the output at a point of
    ``pts_dst`` is the input at the matching point of ``pts_src``. Pixel p and ``affine_grid``'s
    normalised n coordinates relate by ``p = D (n + 1)``, ``D = diag((W-1)/2, (H-1)/2)``.
    """
    n, c, h, w = x.shape
    ones = torch.ones(n, 3, 1, dtype=pts_dst.dtype, device=pts_dst.device)
    mt = torch.linalg.solve(torch.cat((pts_dst, ones), dim=2), pts_src)  # src = dst @ mt
    lin, shift = mt[:, :2].transpose(1, 2), mt[:, 2]
    d = torch.tensor([max(w - 1, 1) / 2, max(h - 1, 1) / 2], dtype=lin.dtype, device=lin.device)
    lin_n = lin * d[None, None, :] / d[None, :, None]
    shift_n = ((lin @ d[:, None]).squeeze(2) + shift - d) / d
    theta = torch.cat((lin_n, shift_n[:, :, None]), dim=2).to(x.device, x.dtype)
    return _sample(x, _affine_grid(theta, h, w), align_corners=True)


def elastic_transform(
    x: Tensor, params: tuple[float, float, float], generator: torch.Generator
) -> Tensor:
    """Random affine warp, then a smooth random displacement; params (alpha, sigma, jitter) px.

    Affine (OpenCV ``getAffineTransform`` + ``warpAffine``, bilinear, border reflect-101): the
    points ``c + (s, s), c + (s, -s), c - (s, s)`` (c = (W//2, H//2), s = min(H, W)//3) move by
    U(-jitter, jitter) each. Displacement: U(-1, 1) noise per pixel and axis, Gaussian-smoothed
    (sigma px, mode 'reflect', truncate 3), times alpha; sampled bilinearly with border
    'reflect' (``map_coordinates``). OpenCV's 1/32-px fixed-point weights are not emulated.
    """
    alpha, sigma, jitter = float(params[0]), float(params[1]), float(params[2])
    n, c, h, w = x.shape
    cx, cy, s = w // 2, h // 2, min(h, w) // 3
    pts1 = torch.tensor([[cx + s, cy + s], [cx + s, cy - s], [cx - s, cy - s]], dtype=torch.float64)
    pts1 = pts1.to(generator.device).expand(n, 3, 2)
    pts2 = pts1 + uniform((n, 3, 2), -jitter, jitter, generator)
    y = affine_warp(x, pts1, pts2)
    if alpha == 0.0:
        return y.clamp_(0.0, 1.0)
    noise = uniform((n, 2, h, w), -1.0, 1.0, generator, x.dtype).to(x.device)
    field = gaussian_blur(noise, sigma, mode="reflect", truncate=3.0).mul_(alpha)
    return displace(y, field[:, 0], field[:, 1]).clamp_(0.0, 1.0)
