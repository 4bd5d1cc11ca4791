"""Linear filters and resampling shared by the corruptions, each exact to a reference.

``x: (..., H, W)`` float; every operator acts on the last two axes and keeps ``x``'s dtype
and device. Separable linear filters run as matrix products ``Mh @ x @ Mw^T`` with (H, H) and
(W, W) matrices that fold the border rule in, which is exact and, on CPU, faster than
``conv2d`` on one input channel:

- :func:`gaussian_filter` / :func:`gaussian_matrix`: ``scipy.ndimage.gaussian_filter1d``
  (taps ``exp(-k^2 / 2 sigma^2)`` for ``|k| <= int(truncate sigma + 0.5)``, normalised) with
  scipy's border modes (skimage's ``gaussian`` is the same filter);
- :func:`axis_matrix` / :func:`apply_separable`: any odd-length taps with any of those
  borders, summed over several separable terms (defocus, pixelate);
- :func:`clipped_zoom`: the published centre crop + ``scipy.ndimage.zoom(order=1)`` + trim;
- :func:`motion_blur_at`: ImageMagick's motion blur (a one-sided Gaussian line kernel);
- :func:`displace` / :func:`affine_warp`: bilinear resampling as ``map_coordinates`` and
  OpenCV's ``warpAffine`` do it (elastic transform).

Matrices are cached (``lru_cache``): treat them as read-only.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from selrob.errors import InvalidArgument

_TAP_TOL = 1e-6  # motion-blur taps whose combined tail weight is below this are dropped
_MOTION_CHUNK = 4096  # images per padded block in motion blur (bounds memory)


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


def axis_matrix(taps: np.ndarray | Tensor, n: int, mode: str) -> Tensor:
    """(n, n) float64 matrix of 1-D correlation with odd-length ``taps``, border folded in.

    ``mode`` is a scipy.ndimage border: 'nearest' (edge repeated), 'reflect' (half-sample
    symmetric) or 'mirror' (whole-sample symmetric, OpenCV's reflect-101). Taps that fall
    outside the image are added to the pixel the border rule maps them to, so kernels wider
    than the image are handled exactly.
    """
    taps = np.asarray(taps, dtype=np.float64)
    r = len(taps) // 2
    cols = _extend(np.arange(n)[:, None] + np.arange(-r, r + 1)[None, :], n, mode)
    mat = np.zeros((n, n))
    np.add.at(mat, (np.repeat(np.arange(n), len(taps)), cols.ravel()), np.tile(taps, n))
    return torch.from_numpy(mat)


def gaussian_taps(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised taps ``exp(-k^2 / 2 sigma^2)``, ``|k| <= int(truncate sigma + 0.5)``, as scipy's
    ``gaussian_filter1d``; a single tap 1 when the radius is 0."""
    radius = int(truncate * sigma + 0.5) if sigma > 0 else 0
    k = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 / sigma**2 * k**2) if radius > 0 else np.ones(1)
    return taps / taps.sum()


@lru_cache(maxsize=256)
def gaussian_matrix(n: int, sigma: float, truncate: float = 4.0, mode: str = "nearest") -> Tensor:
    """(n, n) float64 matrix of ``scipy.ndimage.gaussian_filter1d(sigma, truncate, mode)``.

    Cached: treat as read-only.
    """
    return axis_matrix(gaussian_taps(sigma, truncate), n, mode)


def apply_separable(x: Tensor, terms: list[tuple[Tensor, Tensor]]) -> Tensor:
    """``sum_t Mh_t @ x @ Mw_t^T`` over (H, H), (W, W) matrix pairs ``terms``; x: (..., H, W)."""
    out = None
    for mh, mw in terms:
        mh = mh.to(device=x.device, dtype=x.dtype)
        mw = mw.to(device=x.device, dtype=x.dtype)
        y = torch.matmul(mh, torch.matmul(x, mw.T))
        out = y if out is None else out.add_(y)
    return out


def gaussian_filter(
    x: Tensor, sigma: float, mode: str = "nearest", truncate: float = 4.0
) -> Tensor:
    """Gaussian blur of each (H, W) plane of ``x: (..., H, W)``, sigma in px (skimage/scipy)."""
    if int(truncate * sigma + 0.5) == 0 or sigma <= 0:
        return x.clone()
    h, w = x.shape[-2:]
    terms = [(gaussian_matrix(h, float(sigma), truncate, mode),
              gaussian_matrix(w, float(sigma), truncate, mode))]  # fmt: skip
    return apply_separable(x, terms)


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
