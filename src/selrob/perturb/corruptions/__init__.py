"""The 19 common corruptions of Hendrycks & Dietterich (2019) as batched torch functions.

``corrupt(x, name, severity, generator)`` corrupts a batch ``x: (N, C, H, W)`` float in [0, 1]
(C = 1 or 3, H, W >= 28) with the published parameters for its size
(:mod:`selrob.perturb.corruptions.tables`: the 32-px table for H <= 47, so 28-px Fashion-MNIST
uses CIFAR-10-C's, the 64-px table for 48 <= H <= 159, the 224-px table above). It returns a
tensor of the same shape, dtype and device, in [0, 1]. ``docs/corruptions.md`` lists the
parameters, their sources and every deviation from the published generators.

The implementations live in one module per family of the benchmark: :mod:`.noise`,
:mod:`.blur`, :mod:`.weather`, :mod:`.digital` (each also holds its family's extra
corruption), over shared filters (:mod:`._filters`) and draws (:mod:`selrob.perturb._random`).

Decisions:

- Outputs stay float; the CIFAR-10-C generator's ``np.uint8`` truncation is not reproduced.
  Only jpeg_compression quantises, because JPEG works on uint8.
- Random corruptions draw only from the ``generator`` argument and require one; the
  deterministic ones accept ``generator=None`` (:data:`DETERMINISTIC`). The published
  generators were never seeded, so we match their statistics, not their pixels.
- ``saturate`` is colour-only: on C = 1 it raises :class:`InvalidArgument`; use
  :func:`applicable` / :func:`corruptions_for` to skip it for grey data. ``brightness`` on grey
  images adds to the intensity (the HSV value of a grey pixel) and clips.
- ``corrupt`` runs the implementation on chunks of whole images (about 1M values each,
  ``_CHUNK_VALUES``); random draws follow the chunks in order, so a seed fixes the output for
  a given batch, on any thread count.
- Severity is not monotone for saturate (desaturates at 1-2, oversaturates at 3-5) nor for
  elastic_transform at 32 px (severity 1 is a pure affine jitter); the published parameters win.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor

from selrob.errors import InvalidArgument, UnknownName
from selrob.perturb.corruptions import blur, digital, noise, weather  # noqa: F401 (they register)
from selrob.perturb.corruptions._registry import IMPLEMENTATIONS
from selrob.perturb.corruptions.tables import table_for, table_size

__all__ = [
    "COLOUR_ONLY",
    "CORRUPTIONS",
    "DETERMINISTIC",
    "EXTRA",
    "FAMILIES",
    "SEVERITIES",
    "STANDARD",
    "applicable",
    "corrupt",
    "corruptions_for",
    "implementation",
    "resolve_corruptions",
]

STANDARD: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
"""The 15 corruptions of ImageNet-C / Tiny-ImageNet-C / CIFAR-10-C, in the standard order."""

EXTRA: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
"""The 4 extra corruptions (held-out set of Hendrycks & Dietterich), also in CIFAR-10-C."""

CORRUPTIONS: tuple[str, ...] = STANDARD + EXTRA
"""All 19 names: the 15 standard followed by the 4 extra."""

FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "extra": EXTRA,
}
"""The benchmark's four families of the 15 standard corruptions, and the 4 extra ones."""

SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

COLOUR_ONLY: frozenset[str] = frozenset({"saturate"})
"""Corruptions undefined on grey (C = 1) images."""

DETERMINISTIC: frozenset[str] = frozenset(
    {
        "defocus_blur",
        "zoom_blur",
        "brightness",
        "contrast",
        "pixelate",
        "jpeg_compression",
        "gaussian_blur",
        "saturate",
    }
)
"""Corruptions that draw no random numbers (``generator`` may be None)."""

_CHUNK_VALUES = 1 << 20
"""Values (N x C x H x W) per call of an implementation: ``corrupt`` walks the batch in chunks
of whole images. Temporaries of a few MB are reused by the allocator and stay in cache; a
whole 10k-image batch makes each temporary a fresh large mapping whose page faults cost more
than the arithmetic (``benchmarks/corruptions.py``). Random draws are made chunk by chunk, in
order, so a seed still fixes the output."""

_VALUE_TOL = 1e-4  # inputs may exceed [0, 1] by this much (float round-off); they are clipped


def _check_name(name: str) -> None:
    if name not in IMPLEMENTATIONS:
        raise UnknownName(f"unknown corruption {name!r}; choose one of: {', '.join(CORRUPTIONS)}")


def implementation(name: str, image_size: int = 32) -> Callable[..., Tensor]:
    """The function ``fn(x, params, generator) -> Tensor`` behind ``name`` at this image size."""
    _check_name(name)
    fn = IMPLEMENTATIONS.get(name)
    if name == "pixelate" and table_size(image_size) == 224:
        return partial(fn, nearest_up=True)
    return fn


def applicable(name: str, channels: int) -> bool:
    """Whether corruption ``name`` is defined on images with ``channels`` (1 or 3) channels."""
    _check_name(name)
    if channels not in (1, 3):
        raise InvalidArgument(f"channels must be 1 or 3, got {channels!r}")
    return channels == 3 or name not in COLOUR_ONLY


def corruptions_for(channels: int) -> list[str]:
    """The corruptions applicable to ``channels``-channel images, in the order of CORRUPTIONS."""
    return [n for n in CORRUPTIONS if applicable(n, channels)]


def resolve_corruptions(names: Sequence[str], channels: int) -> list[str]:
    """A spec's corruption list checked: ``["all"]`` -> every corruption applicable to
    ``channels`` (colour-only ones skipped on grey); unknown names raise InvalidArgument."""
    if not names:
        return []
    if list(names) == ["all"]:
        return corruptions_for(channels)
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown:
        raise InvalidArgument(
            f"unknown corruption(s) {', '.join(unknown)}; choose from: all, {', '.join(CORRUPTIONS)}"
        )
    return list(names)


def _validate(x: object, name: str, severity: object, generator: object) -> bool:
    """Raise on bad arguments; return whether ``x`` needs clipping into [0, 1]."""
    _check_name(name)
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise InvalidArgument(
            f"x must be a float torch.Tensor (N, C, H, W) in [0, 1], got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, Tensor) else "")
            + "; convert with x.float() / 255 if it holds uint8 pixels"
        )
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise InvalidArgument(
            f"x must have shape (N, C, H, W) with C = 1 or 3, got {tuple(x.shape)}; "
            "add a batch axis with x[None] or move channels first"
        )
    if x.shape[2] < 28 or x.shape[3] < 28:
        raise InvalidArgument(f"images must be at least 28 x 28 px, got {tuple(x.shape[2:])}")
    needs_clip = False
    if x.numel() > 0:
        lo, hi = (float(v) for v in torch.aminmax(x.detach()))
        if not (lo >= -_VALUE_TOL and hi <= 1 + _VALUE_TOL):
            raise InvalidArgument(
                f"x values must lie in [0, 1], got min {lo:.4g}, max {hi:.4g}; "
                "scale pixels to [0, 1] (and undo any normalisation) first"
            )
        needs_clip = lo < 0 or hi > 1
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral):
        raise InvalidArgument(f"severity must be an int in 1..5, got {severity!r}")
    if not 1 <= int(severity) <= 5:
        raise InvalidArgument(f"severity must be in 1..5, got {severity}")
    if not applicable(name, x.shape[1]):
        raise InvalidArgument(
            f"{name} is colour-only and x has 1 channel; skip it with corruptions_for(channels)"
        )
    if generator is None and name not in DETERMINISTIC:
        raise InvalidArgument(
            f"{name} is random; pass generator=torch.Generator().manual_seed(seed)"
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InvalidArgument(f"generator must be a torch.Generator, got {type(generator)}")
    return needs_clip


def corrupt(
    x: Tensor, name: str, severity: int, generator: torch.Generator | None = None
) -> Tensor:
    """Apply corruption ``name`` at ``severity`` (1..5) to ``x: (N, C, H, W)`` in [0, 1].

    Parameters come from the published table for the image height (Hendrycks & Dietterich,
    2019). Random corruptions need ``generator`` (its device may differ from ``x``'s). Returns
    a new tensor of the same shape, dtype and device, in [0, 1]; ``x`` is not modified.
    Raises UnknownName (bad name) or InvalidArgument (bad input, severity or generator).
    """
    needs_clip = _validate(x, name, severity, generator)
    h = int(x.shape[2])
    params = table_for(name, h)[int(severity) - 1]
    fn = implementation(name, h)
    work_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    with torch.no_grad():
        xin = x.detach().to(work_dtype)  # no copy for float32/64 inputs
        if needs_clip:
            xin = xin.clamp(0.0, 1.0)
        out = torch.empty_like(xin, memory_format=torch.contiguous_format)
        step = max(1, _CHUNK_VALUES // max(1, math.prod(xin.shape[1:])))
        for s in range(0, xin.shape[0], step):  # out is new storage: x is never written
            torch.clamp(fn(xin[s : s + step], params, generator), 0.0, 1.0, out=out[s : s + step])
        return out.to(x.dtype)
