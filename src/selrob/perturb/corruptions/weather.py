"""Weather corruptions (Hendrycks & Dietterich, 2019): snow, frost, fog, brightness, and the
extra spatter, batched in torch.

``x: (N, C, H, W)`` float in [0, 1] (C = 1 or 3); ``params`` is one severity row of
:mod:`selrob.perturb.corruptions.tables`; random numbers come only from ``generator`` (drawn
on its device, then moved to ``x``'s). Outputs have ``x``'s shape, dtype and device, in [0, 1].

Grey images (C = 1): colour tints become their grey level (ITU-R 601 luma, 0.299 R + 0.587 G +
0.114 B, as OpenCV's RGB2GRAY and Pillow's 'L'): water (175, 238, 238)/255 -> 0.859, mud
(63, 42, 20)/255 -> 0.180; snow's greyscale term is the image itself; frost uses the luma of
its texture; brightness adds to the intensity (a grey pixel's HSV value). Deviations from
the published generators are listed per function.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selrob.perturb._random import randn, uniform
from selrob.perturb.corruptions._filters import clipped_zoom, gaussian_filter, motion_blur_at
from selrob.perturb.corruptions._image_ops import water_relief
from selrob.perturb.corruptions._registry import register
from selrob.perturb.corruptions._textures import FROST_TEXTURES, frost_bank, plasma_fractal

_LUMA = (0.299, 0.587, 0.114)
_WATER = (175.0, 238.0, 238.0)  # pale turquoise, RGB 0..255
_MUD = (63.0, 42.0, 20.0)  # mud brown, RGB 0..255


def luma(x: Tensor) -> Tensor:
    """(N, 1, H, W) grey level of ``x: (N, C, H, W)``; ``x`` itself when C = 1."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device)
    return (x * w[None, :, None, None]).sum(dim=1, keepdim=True)


def _colour(rgb255: tuple[float, float, float], like: Tensor) -> Tensor:
    """(1, C, 1, 1) colour in [0, 1] for ``like``'s channel count (grey: its luma)."""
    c = torch.tensor(rgb255, dtype=like.dtype, device=like.device)[None, :, None, None] / 255
    return c if like.shape[1] == 3 else luma(c)


@register("fog")
def fog(x: Tensor, params: tuple[float, float, int], generator: torch.Generator) -> Tensor:
    """``(x + c plasma) max(x) / (max(x) + c)``; params (c, wibble decay, plasma map size).

    One plasma map per image (cropped to ``[:H, :W]``), max over the whole image. When the map
    is smaller than the image it grows to the next power of two (as the imagecorruptions
    package does); at 28/32 px the table's 32 is used as is.
    """
    c, decay, mapsize = float(params[0]), float(params[1]), int(params[2])
    n, _, h, w = x.shape
    while mapsize < max(h, w):
        mapsize *= 2
    plasma = plasma_fractal(n, mapsize, decay, generator, x.dtype)[:, None, :h, :w].to(x.device)
    top = x.amax(dim=(1, 2, 3), keepdim=True)
    denom = top + c
    scale = torch.where(denom > 0, top / denom.clamp_min(1e-12), torch.ones_like(top))
    return ((x + c * plasma) * scale).clamp_(0.0, 1.0)


@register("frost")
def frost(x: Tensor, params: tuple[float, float, float], generator: torch.Generator) -> Tensor:
    """``a x + b frost`` with a random crop of one of 5 frost textures; params (a, b, scale).

    Deviation: the published photographs are not shipped; the textures are synthetic
    (:func:`selrob.perturb.corruptions._textures.frost_texture`), shrunk by ``scale`` like the photographs
    (0.2 at 32 px, 0.3 at 64 px, 1 at 224 px). Texture index ``randint(5)`` and crop corner
    ``randint(0, S - H)`` per image, as published; crops wrap if the texture is too small.
    """
    a, b, scale = float(params[0]), float(params[1]), float(params[2])
    n, c, h, w = x.shape
    bank = frost_bank(scale)
    side, dev = bank.shape[-1], generator.device
    which = torch.randint(0, FROST_TEXTURES, (n,), generator=generator, device=dev).cpu()
    top = torch.randint(0, max(side - h, 1), (n,), generator=generator, device=dev).cpu()
    left = torch.randint(0, max(side - w, 1), (n,), generator=generator, device=dev).cpu()
    rows = torch.remainder(top[:, None] + torch.arange(h), side)
    cols = torch.remainder(left[:, None] + torch.arange(w), side)
    flat = (which[:, None, None] * side + rows[:, :, None]) * side + cols[:, None, :]
    texels = bank.to(x.device, x.dtype).permute(0, 2, 3, 1)  # (5, S, S, 3)
    if c == 1:
        texels = luma(texels.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    tex = texels.reshape(-1, texels.shape[-1]).index_select(0, flat.reshape(-1).to(x.device))
    tex = tex.reshape(n, h, w, c).permute(0, 3, 1, 2)
    return x.mul(a).add_(tex, alpha=b).clamp_(0.0, 1.0)


@register("snow")
def snow(x: Tensor, params: tuple[float, ...], generator: torch.Generator) -> Tensor:
    """Falling snow; params (mean, std, zoom, threshold, blur radius, blur sigma, mix).

    Snow layer: N(mean, std) per pixel, centre-zoomed, values below threshold set to 0, clipped
    and truncated to 8 bits (as the published PNG round trip), then motion-blurred
    (ImageMagick, angle U(-135, -45) degrees per image). Image: ``mix x + (1 - mix) max(x,
    1.5 grey(x) + 0.5)``; output ``clip(image + layer + layer rotated 180 degrees)``. The
    8-bit quantisation of ImageMagick's output is not reproduced (< 1/255).
    """
    mean, std, zoom, thr, radius, sigma, mix = (float(v) for v in params)
    n, _, h, w = x.shape
    layer = randn((n, 1, h, w), generator, like=x).mul_(std).add_(mean)
    layer = clipped_zoom(layer, zoom)
    layer = layer.masked_fill_(layer < thr, 0.0).clamp_(0.0, 1.0)
    layer = layer.mul_(255).floor_().div_(255)
    angles = uniform((n,), -135.0, -45.0, generator)
    layer = motion_blur_at(layer, radius, sigma, angles)
    out = torch.maximum(x, luma(x).mul(1.5).add_(0.5)).mul_(1 - mix).add_(x, alpha=mix)
    return out.add_(layer.add_(layer.flip(2, 3))).clamp_(0.0, 1.0)


@register("brightness")
def brightness(x: Tensor, c: float, generator: torch.Generator | None = None) -> Tensor:
    """Raise HSV value by ``c``: ``V <- clip(V + c)``. On grey (C = 1) images V is the intensity."""
    if x.shape[1] == 1:
        return (x + c).clamp_(0.0, 1.0)
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c).clamp_(0.0, 1.0)
    black = v <= 0
    ratio = v_new / torch.where(black, torch.ones_like(v), v)
    out = x * ratio
    if bool(black.any()):  # black pixels (S = 0, H = 0) become grey at V'
        out = torch.where(black, v_new, out)
    return out.clamp_(0.0, 1.0)


@register("spatter")
def spatter(x: Tensor, params: tuple[float, ...], generator: torch.Generator) -> Tensor:
    """Water drops or mud splashes; params (mean, std, sigma, threshold, intensity, mud).

    Liquid layer: N(mean, std) per pixel, Gaussian-blurred (sigma px), values below threshold
    set to 0. Water (mud = 0): ``x + m colour`` with ``m = layer8 relief / max * intensity``
    (:func:`water_relief`; ``layer8 = min(floor(255 layer), 255)``: the published uint8 cast
    wraps above 255, we saturate). Mud (mud = 1): mask ``layer > threshold`` blurred with
    sigma = intensity, values < 0.8 zeroed, ``x (1 - m) + colour m``.
    """
    mean, std, sigma, thr, intensity, mud = (float(v) for v in params)
    n, _, h, w = x.shape
    liquid = gaussian_filter(randn((n, 1, h, w), generator, like=x).mul_(std).add_(mean), sigma)
    liquid = liquid.masked_fill_(liquid < thr, 0.0)
    if mud == 0:
        liquid8 = liquid.mul(255).floor_().clamp_(0, 255)
        m = liquid8.mul_(water_relief(liquid8))
        top = m.amax(dim=(1, 2, 3), keepdim=True)
        m = m.div_(top.clamp_min(1e-12)).mul_(intensity)  # all zero where top == 0
        return torch.addcmul(x, m, _colour(_WATER, x)).clamp_(0.0, 1.0)
    m = gaussian_filter((liquid > thr).to(x.dtype), intensity)
    m = m.masked_fill_(m < 0.8, 0.0)
    return torch.addcmul(x * (1 - m), _colour(_MUD, x), m).clamp_(0.0, 1.0)
