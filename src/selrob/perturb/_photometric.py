"""Photometric corruptions: brightness, contrast, saturate, batched in torch.

``x: (N, C, H, W)`` float in [0, 1]. brightness and saturate edit HSV as
``skimage.color.rgb2hsv`` defines it (the published generators of Hendrycks & Dietterich (2019)
use it): V = max channel, S = (max - min) / max (0 for black), H = 0 for grey pixels.

Rather than converting to HSV and back, we use two exact identities of the HSV model. Every
channel is ``rgb_k = V (1 - S r_k(H))`` with a hue-only ramp ``r_k`` in [0, 1]. Hence

- changing only V to V' scales the pixel: ``rgb'_k = rgb_k V' / V`` (black pixels become grey V');
- changing only S to S' keeps ``r_k = (V - rgb_k) / (max - min)``, so
  ``rgb'_k = V - V S' r_k``; grey pixels (max = min) have H = 0, whose ramps are (0, 1, 1).

Both are checked against ``matplotlib.colors`` HSV conversions in the tests.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selrob.errors import InvalidArgument


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


def contrast(x: Tensor, c: float, generator: torch.Generator | None = None) -> Tensor:
    """Scale about each image's per-channel mean: ``clip((x - m) * c + m)``, m over (H, W)."""
    m = x.mean(dim=(2, 3), keepdim=True)
    return torch.add(m * (1.0 - c), x, alpha=c).clamp_(0.0, 1.0)


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
