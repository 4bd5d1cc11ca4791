"""Digital corruptions (Hendrycks & Dietterich, 2019): contrast, elastic_transform, pixelate,
jpeg_compression, and the extra saturate, batched in torch (JPEG through Pillow, per image).

``x: (N, C, H, W)`` float in [0, 1]; ``params`` is one severity row of
:mod:`selrob.perturb.corruptions.tables`. Formulas follow the published generators:

- contrast: scales about each image's *per-channel* mean over (H, W).
- saturate: HSV saturation as ``skimage.color.rgb2hsv`` defines it (V = max channel,
  S = (max - min) / max, 0 for black; H = 0 for grey pixels), edited through an exact
  identity instead of a round trip: every channel is ``rgb_k = V (1 - S r_k(H))`` with a
  hue-only ramp ``r_k``, so changing S to S' keeps ``r_k = (V - rgb_k) / (max - min)`` and
  gives ``rgb'_k = V - V S' r_k``; grey pixels (max = min) have H = 0, ramps (0, 1, 1).
- pixelate: Pillow's BOX resampling, re-derived: output pixel i covers the input interval
  ``[(i + 0.5) s - s/2, (i + 0.5) s + s/2]`` (s = in/out, at least 1 wide) and averages, with
  equal weights, the input pixels whose *centres* fall in it (not area-weighted). Down to
  ``int(size * scale)`` (truncation, as published), then back up with BOX (NEAREST at
  224 px). We resample floats, so Pillow's uint8 rounding between its two passes is absent.
  Because of the equal weights, some size ratios pass many pixels through unchanged, so the
  change is not monotone in severity on every image (e.g. white noise at 32 px); it is on
  real Fashion-MNIST.
- jpeg_compression: Pillow JPEG at the given quality, chroma subsampling 4:2:0 (Pillow's
  default), grey images saved as mode 'L'; the input is rounded to uint8 first.
- elastic_transform: see the function.

Outputs stay float (the CIFAR-10-C generator's ``np.uint8`` truncation, < 1/255, is left out).
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageFile
from torch import Tensor

from selrob.errors import InvalidArgument
from selrob.perturb._random import uniform
from selrob.perturb.corruptions._filters import (
    affine_warp,
    apply_separable,
    displace,
    gaussian_filter,
)
from selrob.perturb.corruptions._registry import register


@register("contrast")
def contrast(x: Tensor, c: float, generator: torch.Generator | None = None) -> Tensor:
    """Scale about each image's per-channel mean: ``clip((x - m) * c + m)``, m over (H, W)."""
    m = x.mean(dim=(2, 3), keepdim=True)
    return torch.add(m * (1.0 - c), x, alpha=c).clamp_(0.0, 1.0)


@register("saturate")
def saturate(
    x: Tensor, ab: tuple[float, float], generator: torch.Generator | None = None
) -> Tensor:
    """Scale HSV saturation: ``S <- clip(S * a + b)``; colour images only (C = 3).

    As with skimage's HSV, grey pixels have hue 0 (red), so ``b > 0`` tints them red.
    """
    if x.shape[1] != 3:
        raise InvalidArgument(
            "saturate is colour-only (needs C = 3); skip it for grey images, "
            "e.g. with selrob.perturb.corruptions.corruptions_for(channels)"
        )
    a, b = ab
    v = x.amax(dim=1, keepdim=True)
    delta = v - x.amin(dim=1, keepdim=True)
    grey = delta <= 0
    s = delta / torch.where(v > 0, v, torch.ones_like(v))  # 0 where v == 0 (then delta == 0)
    s_new = (s * a + b).clamp_(0.0, 1.0)
    # rgb' = V - V S' r with r = (V - rgb) / delta; grey pixels get factor 0, i.e. rgb' = V.
    factor = v * s_new / torch.where(grey, torch.ones_like(delta), delta)
    factor = factor.masked_fill_(grey, 0.0)
    out = torch.addcmul(v, factor, x - v)
    if b > 0 and bool(grey.any()):  # grey pixels: H = 0, ramps (0, 1, 1)
        ramp = torch.tensor([0.0, 1.0, 1.0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        out = torch.where(grey, v - v * s_new * ramp, out)
    return out.clamp_(0.0, 1.0)


@register("elastic_transform")
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
    field = gaussian_filter(noise, sigma, mode="reflect", truncate=3.0).mul_(alpha)
    return displace(y, field[:, 0], field[:, 1]).clamp_(0.0, 1.0)


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


@register("pixelate")
def pixelate(
    x: Tensor, scale: float, generator: torch.Generator | None = None, nearest_up: bool = False
) -> Tensor:
    """BOX down to ``int(size * scale)`` per axis and back up (BOX, or NEAREST if asked)."""
    _, _, h, w = x.shape
    terms = [(_pixelate_matrix(h, scale, nearest_up), _pixelate_matrix(w, scale, nearest_up))]
    return apply_separable(x, terms).clamp_(0.0, 1.0)


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


@register("jpeg_compression")
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
