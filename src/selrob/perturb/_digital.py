"""Blur and digital corruptions: gaussian_blur, defocus_blur, pixelate, jpeg_compression.

``x: (N, C, H, W)`` float in [0, 1]; the filters run batched in torch on ``x``'s device, JPEG
runs through Pillow one image at a time. Parameters come from
:mod:`selrob.perturb.corruption_tables`; formulas follow the published generators of
Hendrycks & Dietterich (2019):

- gaussian_blur: ``skimage.filters.gaussian`` = ``scipy.ndimage.gaussian_filter`` per channel,
  truncate 4, border mode 'nearest' (edge value repeated; skimage's default).
- defocus_blur: a disk of radius r on a 17 x 17 grid (2r + 1 when r > 8), normalised, then
  anti-aliased by a 3 x 3 (5 x 5 when r > 8) Gaussian of sigma ``alias``, as OpenCV's
  GaussianBlur does it (border reflect-101), and applied per channel with border reflect-101
  (OpenCV filter2D's default). The kernel is not renormalised after the alias blur.
- pixelate: Pillow's BOX resampling, re-derived: output pixel i covers the input interval
  ``[(i + 0.5) s - s/2, (i + 0.5) s + s/2]`` (s = in/out, at least 1 wide) and averages, with
  equal weights, the input pixels whose *centres* fall in it (not area-weighted). Down to
  ``int(size * scale)`` (truncation, as published), then back up with BOX (NEAREST at 224 px).
  We resample floats, so Pillow's uint8 rounding between its two passes is absent. Because
  of the equal weights, some size ratios pass many pixels through unchanged, so the change is
  not monotone in severity on every image (e.g. white noise at 32 px: 30 px changes it more
  than 28 px); it is on real Fashion-MNIST.
- jpeg_compression: Pillow JPEG at the given quality, chroma subsampling 4:2:0 (Pillow's
  default), grey images saved as mode 'L'. The input is rounded to uint8 first.

The linear filters run as matrix products ``Mh @ x @ Mw^T`` with (H, H) and (W, W) matrices
that fold the border rule in; defocus's non-separable disk is split by SVD into a few
separable terms (rank 1-3 at 32 and 64 px, up to 7 at 224 px). This is exact and faster on CPU than
``conv2d`` with one input channel.

Our functions return floats and never truncate to uint8 (the CIFAR-10-C generator stores
``np.uint8(...)``, which truncates; that shifts values by < 1/255 and is left out).
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile
from torch import Tensor


def _axis_matrix(taps: Tensor, size: int, mode: str) -> Tensor:
    """(size, size) float64 matrix of 1-D correlation with odd-length ``taps``, border folded in.

    ``mode``: 'nearest' (edge value repeated) or 'reflect' (reflect-101: ... 2 1 | 0 1 2 ...).
    """
    r = len(taps) // 2
    idx = torch.arange(size)[:, None] + torch.arange(-r, r + 1)[None, :]
    if mode == "nearest":
        idx = idx.clamp(0, size - 1)
    else:
        period = max(2 * (size - 1), 1)
        idx = torch.remainder(idx, period)
        idx = torch.where(idx > size - 1, period - idx, idx)
    m = torch.zeros(size, size, dtype=torch.float64)
    return m.scatter_add_(1, idx, taps.to(torch.float64).expand(size, -1).contiguous())


def _apply_separable(x: Tensor, terms: list[tuple[Tensor, Tensor]]) -> Tensor:
    """``sum_t Mh_t @ x @ Mw_t^T`` over the (H, H), (W, W) matrix pairs ``terms``; (N, C, H, W)."""
    out = None
    for mh, mw in terms:
        mh = mh.to(device=x.device, dtype=x.dtype)
        mw = mw.to(device=x.device, dtype=x.dtype)
        y = torch.matmul(mh, torch.matmul(x, mw.T))
        out = y if out is None else out.add_(y)
    return out


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> Tensor:
    """Normalised 1-D Gaussian taps of radius ``int(truncate * sigma + 0.5)`` (float64)."""
    radius = int(truncate * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (t / sigma) ** 2)
    return taps / taps.sum()


@lru_cache(maxsize=128)
def _gaussian_terms(sigma: float, h: int, w: int) -> list[tuple[Tensor, Tensor]]:
    taps = gaussian_kernel1d(sigma)
    return [(_axis_matrix(taps, h, "nearest"), _axis_matrix(taps, w, "nearest"))]


def gaussian_blur(x: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """Separable Gaussian blur of std ``sigma`` px, border 'nearest'. Returns (N, C, H, W)."""
    terms = _gaussian_terms(float(sigma), x.shape[2], x.shape[3])
    return _apply_separable(x, terms).clamp_(0.0, 1.0)


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
        (_axis_matrix(s[i] * u[:, i], h, "reflect"), _axis_matrix(vt[i], w, "reflect"))
        for i in range(int(keep.sum()))
    ]


def defocus_blur(
    x: Tensor, params: tuple[float, float], generator: torch.Generator | None = None
) -> Tensor:
    """Defocus: per-channel filtering with the anti-aliased disk ``(radius, alias)`` px."""
    terms = _defocus_terms(float(params[0]), float(params[1]), x.shape[2], x.shape[3])
    return _apply_separable(x, terms).clamp_(0.0, 1.0)


@lru_cache(maxsize=256)
def pil_box_matrix(in_size: int, out_size: int) -> Tensor:
    """(out_size, in_size) float64 weights of Pillow's BOX resampling along one axis."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    m = torch.zeros(out_size, in_size, dtype=torch.float64)
    for i in range(out_size):
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), in_size)
        for j in range(lo, hi):
            t = (j - centre + 0.5) / filterscale
            if -0.5 < t <= 0.5:
                m[i, j] = 1.0
        total = m[i].sum()
        if total > 0:
            m[i] /= total
    return m


@lru_cache(maxsize=256)
def pil_nearest_matrix(in_size: int, out_size: int) -> Tensor:
    """(out_size, in_size) 0/1 selection of Pillow's NEAREST resize: src = floor((i + .5) s)."""
    src = ((torch.arange(out_size, dtype=torch.float64) + 0.5) * (in_size / out_size)).floor()
    src = src.long().clamp_(0, in_size - 1)
    m = torch.zeros(out_size, in_size, dtype=torch.float64)
    m[torch.arange(out_size), src] = 1.0
    return m


@lru_cache(maxsize=128)
def _pixelate_matrix(size: int, scale: float, nearest_up: bool) -> Tensor:
    small = max(int(size * scale), 1)
    down = pil_box_matrix(size, small)
    up = pil_nearest_matrix(small, size) if nearest_up else pil_box_matrix(small, size)
    return up @ down


def pixelate(
    x: Tensor, scale: float, generator: torch.Generator | None = None, nearest_up: bool = False
) -> Tensor:
    """BOX down to ``int(size * scale)`` per axis and back up (BOX, or NEAREST if asked)."""
    _, _, h, w = x.shape
    terms = [(_pixelate_matrix(h, scale, nearest_up), _pixelate_matrix(w, scale, nearest_up))]
    return _apply_separable(x, terms).clamp_(0.0, 1.0)


def _pil(img: np.ndarray) -> Image.Image:
    """A Pillow image over one uint8 (H, W) ('L') or (H, W, 3) ('RGB') array, without a copy."""
    mode = "RGB" if img.ndim == 3 else "L"
    return Image.frombuffer(mode, (img.shape[1], img.shape[0]), img, "raw", mode, 0, 1)


def _save_jpeg(pil: Image.Image, buf: io.BytesIO, quality: int) -> None:
    if pil.mode == "RGB":
        pil.save(buf, format="JPEG", quality=quality, subsampling="4:2:0")
    else:
        pil.save(buf, format="JPEG", quality=quality)


def _encode_jpeg(pil: Image.Image, config: tuple) -> bytes:
    """JPEG bytes of ``pil`` from Pillow's encoder with ``config`` (what ``save`` would pass)."""
    encoder = Image._getencoder(pil.mode, "jpeg", pil.mode, config)
    try:
        encoder.setimage(pil.im, (0, 0, *pil.size))
        parts = []
        while True:
            _, status, data = encoder.encode(ImageFile.MAXBLOCK)
            parts.append(data)
            if status:
                break
        if status < 0:
            raise OSError(f"JPEG encoder error {status}")
    finally:
        encoder.cleanup()
    return b"".join(parts)


@lru_cache(maxsize=64)
def _jpeg_config(mode: str, quality: int) -> tuple | None:
    """Pillow's own encoder settings for JPEG at ``quality``, or None if they cannot be reused.

    Read from the image after a real ``save`` of a probe (Pillow stores them there), and
    accepted only if encoding the probe with them gives ``save``'s bytes exactly.
    """
    shape = (32, 32, 3) if mode == "RGB" else (32, 32)
    probe = _pil(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    buf = io.BytesIO()
    _save_jpeg(probe, buf, quality)
    config = getattr(probe, "encoderconfig", None)
    try:
        same = config is not None and _encode_jpeg(probe, config) == buf.getvalue()
    except Exception:  # noqa: BLE001 - any failure: use the public path
        same = False
    return config if same else None


def _jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode one uint8 (H, W) or (H, W, 3) image as JPEG and decode it (same shape).

    Bytes are ``Image.save``'s. To save its per-call overhead (about half of a 32 px round
    trip), the encoder is called directly with the settings ``save`` uses, checked once per
    quality (:func:`_jpeg_config`); ``save`` itself is the fallback.
    """
    pil = _pil(img)
    config = _jpeg_config(pil.mode, quality)
    if config is not None:
        data = _encode_jpeg(pil, config)
    else:
        buf = io.BytesIO()
        _save_jpeg(pil, buf, quality)
        data = buf.getvalue()
    # Decode the bytes directly with Pillow's JPEG decoder (skips Image.open's format sniffing).
    decoded = Image.frombytes(pil.mode, pil.size, data, "jpeg", pil.mode, "")
    return np.frombuffer(decoded.tobytes(), dtype=np.uint8).reshape(img.shape)


def jpeg_compression(x: Tensor, quality: int, generator: torch.Generator | None = None) -> Tensor:
    """Pillow JPEG round trip at ``quality`` (4:2:0), per image, after rounding to uint8."""
    n, c, h, w = x.shape
    q8 = (x.detach() * 255.0).round_().clamp_(0, 255).to(torch.uint8).cpu()
    arr = q8.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, C): each image contiguous
    if c == 1:
        arr = arr[..., 0]
    out = np.empty_like(arr)
    for i in range(n):
        out[i] = _jpeg_roundtrip(arr[i], int(quality))
    y = torch.from_numpy(out).reshape(n, h, w, c).permute(0, 3, 1, 2)
    return (y.to(device=x.device, dtype=x.dtype) / 255.0).contiguous()
