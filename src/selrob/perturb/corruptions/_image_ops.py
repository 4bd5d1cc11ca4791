"""OpenCV operations of the published spatter corruption, re-derived in torch (no OpenCV).

Inputs are batches ``(N, 1, H, W)``; each function names the OpenCV call it reproduces and
its border rule. Used by :func:`selrob.perturb.corruptions.weather.spatter` (the water branch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_DIST_CAP = 20  # the water branch truncates the distance-to-edge map at 20 px
_TG22 = 13573  # tan(22.5 deg) in OpenCV Canny's 15-bit fixed point
_CHUNK_ELEMS = 32_768  # elements per row step of the chamfer scan (small ops, no threading)


def _correlate3(x: Tensor, kernel: tuple[tuple[float, ...], ...], border: str) -> Tensor:
    """3 x 3 correlation of ``x: (N, 1, H, W)`` as shifted-slice sums (``F.pad`` border mode)."""
    h, w = x.shape[-2:]
    xp = F.pad(x, (1, 1, 1, 1), mode=border)
    out = torch.zeros_like(x)
    for i, row in enumerate(kernel):
        for j, k in enumerate(row):
            if k:
                out.add_(xp[:, :, i : i + h, j : j + w], alpha=k)
    return out


def _box3(x: Tensor) -> Tensor:
    """3 x 3 mean with border reflect-101 (OpenCV ``blur``'s default)."""
    return _correlate3(x, ((1.0,) * 3,) * 3, "reflect").div_(9)


def chamfer_distance(edge: Tensor, cap: float = _DIST_CAP) -> Tensor:
    """Distance (px) of each pixel to the nearest True of ``edge: (N, 1, H, W)``, capped.

    OpenCV's ``distanceTransform(DIST_L2, 5)``: the two-pass 5 x 5 chamfer with steps 1
    (edge neighbour), 1.4 (diagonal) and 2.1969 (knight's move); outside the image is far.
    Each raster row takes the rows above (below) in one vectorised step, then its own row
    by a running minimum; values above ``cap`` (and images without edges) read ``cap``.
    """
    n, _, h, w = edge.shape
    far = float(4 * (h + w) + cap)
    out = torch.empty(n, 1, h, w, dtype=torch.float32, device=edge.device)
    step = max(1, _CHUNK_ELEMS // w)
    ramp = torch.arange(w, dtype=torch.float32, device=edge.device)[:, None]
    for s0 in range(0, n, step):
        e = edge[s0 : s0 + step, 0].permute(1, 2, 0)  # (H, W, n): a row is contiguous
        d = torch.full((h + 4, w + 4, e.shape[2]), far, device=edge.device)
        d[2 : h + 2, 2 : w + 2].masked_fill_(e, 0.0)
        for rows, sign in ((range(2, h + 2), 1), (range(h + 1, 1, -1), -1)):
            for r in rows:
                near, next_ = d[r - sign], d[r - 2 * sign]
                m = d[r, 2 : w + 2]
                m = torch.minimum(m, near[2 : w + 2] + 1.0)
                m = torch.minimum(m, torch.minimum(near[1 : w + 1], near[3 : w + 3]) + 1.4)
                m = torch.minimum(m, torch.minimum(near[0:w], near[4 : w + 4]) + 2.1969)
                m = torch.minimum(m, torch.minimum(next_[1 : w + 1], next_[3 : w + 3]) + 2.1969)
                if sign > 0:  # left to right: d(c) = min_{c' <= c} m(c') + (c - c')
                    m = (m - ramp).cummin(dim=0).values + ramp
                else:  # right to left: d(c) = min_{c' >= c} m(c') + (c' - c)
                    m = (m + ramp).flip(0).cummin(dim=0).values.flip(0) - ramp
                d[r, 2 : w + 2] = m
        out[s0 : s0 + step, 0] = d[2 : h + 2, 2 : w + 2].permute(2, 0, 1)
    return out.clamp_max_(cap)


def equalize_hist(v: Tensor) -> Tensor:
    """OpenCV ``equalizeHist`` of each image of integer levels 0..255, ``v: (N, 1, H, W)``.

    ``lut(l) = round(255 (cdf(l) - cdf(min)) / (count - cdf(min)))``; constant images are kept.
    """
    n = v.shape[0]
    lv = v.reshape(n, -1).long()
    hist = torch.zeros(n, 256, device=v.device, dtype=torch.float64)
    hist.scatter_add_(1, lv, torch.ones_like(lv, dtype=torch.float64))
    cdf = hist.cumsum(dim=1)
    low = cdf.gather(1, lv.min(dim=1, keepdim=True).values)
    denom = lv.shape[1] - low
    lut = torch.round((cdf - low) * 255 / denom.clamp_min(1)).clamp(0, 255)
    lut = torch.where(denom > 0, lut, torch.arange(256, device=v.device, dtype=lut.dtype))
    return lut.gather(1, lv).reshape(v.shape).to(v.dtype)


def _dilate3(m: Tensor) -> Tensor:
    """3 x 3 binary dilation of a bool ``(N, 1, H, W)`` mask (outside counts as False)."""
    p = F.pad(m, (1, 1, 1, 1))
    rows = p[:, :, :-2] | p[:, :, 1:-1] | p[:, :, 2:]
    return rows[..., :-2] | rows[..., 1:-1] | rows[..., 2:]


def canny_edges(img8: Tensor, low: float = 50.0, high: float = 150.0) -> Tensor:
    """OpenCV ``Canny(img8, low, high)`` (aperture 3, L1 gradient) of ``(N, 1, H, W)`` levels.

    Sobel gradients (border replicate), magnitude ``|gx| + |gy|``; non-maximum suppression
    along the gradient sector (tan 22.5 degrees in OpenCV's 15-bit fixed point; a pixel must
    beat its first neighbour and at least equal its second, so a step's edge lands on its
    left/top pixel); hysteresis: pixels above ``high`` seed edges that grow through
    8-connected surviving pixels above ``low``.
    """
    h, w = img8.shape[-2:]
    p = F.pad(img8.to(torch.float32), (1, 1, 1, 1), mode="replicate").to(torch.int32)
    across = p[..., 2:] - p[..., :w]  # Sobel x: [-1 0 1] across, [1 2 1] down
    gx = across[:, :, :h] + 2 * across[:, :, 1 : h + 1] + across[:, :, 2:]
    down = p[:, :, 2:] - p[:, :, :h]  # Sobel y: [-1 0 1] down, [1 2 1] across
    gy = down[..., :w] + 2 * down[..., 1 : w + 1] + down[..., 2:]
    mag = gx.abs() + gy.abs()
    mp = F.pad(mag, (1, 1, 1, 1))  # zero outside, as OpenCV's magnitude buffer

    def nb(dr: int, dc: int) -> Tensor:
        return mp[:, :, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]

    gxa, ys = gx.abs(), gy.abs() * 32768  # int32: exact, as OpenCV's fixed point
    horiz = ys < gxa * _TG22
    vert = ys > gxa * (_TG22 + 65536)  # implies not horiz
    rising = ~(horiz | vert) & ((gx < 0) == (gy < 0))  # diagonal along (1, 1)
    falling = ~(horiz | vert | rising)  # diagonal along (1, -1)
    # Sector masks combined with & and | (cheap on bools; torch.where on int32 is not).
    keep = horiz & (mag > nb(0, -1)) & (mag >= nb(0, 1))
    keep |= vert & (mag > nb(-1, 0)) & (mag >= nb(1, 0))
    keep |= rising & (mag > nb(-1, -1)) & (mag > nb(1, 1))
    keep |= falling & (mag > nb(-1, 1)) & (mag > nb(1, -1))
    weak = keep & (mag > low)
    edge = weak & (mag > high)
    todo = (weak & ~edge).flatten(1).any(dim=1).nonzero().flatten()  # images with weak pixels
    for _ in range(h * w):
        if len(todo) == 0:
            break
        sub = edge[todo]
        grown = weak[todo] & _dilate3(sub)
        edge[todo] = grown
        todo = todo[(grown != sub).flatten(1).any(dim=1)]
    return edge


def water_relief(liquid8: Tensor) -> Tensor:
    """The water branch's relief map from the 8-bit liquid layer ``(N, 1, H, W)`` (0..255).

    Published (OpenCV): Canny edges of the layer, distance to the nearest edge (5 x 5 chamfer,
    capped at 20), 3 x 3 blur truncated to uint8, histogram equalisation, an emboss filter
    saturated to uint8, a 3 x 3 blur rounded to uint8; borders reflect-101. Re-derived step
    by step with torch ops (:func:`canny_edges`, :func:`chamfer_distance`,
    :func:`equalize_hist`).
    """
    dist = _box3(chamfer_distance(canny_edges(liquid8)).to(liquid8.dtype)).floor_()
    dist = equalize_hist(dist)
    dist = _correlate3(dist, ((-2, -1, 0), (-1, 1, 1), (0, 1, 2)), "reflect").clamp_(0, 255)
    return _box3(dist).round_()
