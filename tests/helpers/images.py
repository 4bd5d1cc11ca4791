"""Synthetic test images and the real Fashion-MNIST test set (skipped when absent).

Two kinds of smooth images: :func:`smooth_images` (bilinear upsampling of coarse torch noise)
and :func:`smoothed_noise` (Gaussian-filtered numpy noise, stretched to [0, 1]).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

from selrob.paths import default_data_dir
from selrob.perturb.corruptions import implementation
from selrob.perturb.corruptions.tables import table_for

FMNIST = Path(os.environ.get("SELROB_FASHION_MNIST", default_data_dir("fashion-mnist")))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand_images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=gen(seed))


def smooth_images(n: int, c: int, size: int, seed: int) -> torch.Tensor:
    """(n, c, size, size) smooth random images in [0, 1]: bilinear upsampling of 6x6 noise."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n, c, 6, 6, generator=g)
    return F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)


def smoothed_noise(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    """Natural-ish images: smoothed noise stretched to [0, 1] (numpy RNG, not torch)."""
    rng = np.random.default_rng(seed)
    x = ndi.gaussian_filter(rng.random((n, c, size, size)), (0, 0, 2, 2))
    lo, hi = x.min(axis=(1, 2, 3), keepdims=True), x.max(axis=(1, 2, 3), keepdims=True)
    return torch.from_numpy((x - lo) / (hi - lo)).float()


def fmnist_like(n: int, seed: int = 0) -> torch.Tensor:
    """28 x 28 grey 'garments': a textured bright ellipse on a black background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-1:1:28j, -1:1:28j]
    a = 0.4 + 0.3 * rng.random((n, 1, 1))
    b = 0.5 + 0.3 * rng.random((n, 1, 1))
    body = (xx / a) ** 2 + (yy / b) ** 2 < 1
    return torch.from_numpy(body * (0.5 + 0.4 * rng.random((n, 28, 28))))[:, None].float()


def to_hwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).double().numpy()


def load_fmnist(n: int) -> torch.Tensor:
    """The first ``n`` Fashion-MNIST test images as (n, 1, 28, 28) in [0, 1]; skip if absent."""
    path = FMNIST / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        pytest.skip(f"Fashion-MNIST not found at {path}")
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 2051
    arr = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)[:n]
    return torch.from_numpy(arr.astype(np.float32) / 255.0)[:, None]


def grey(n: int, c: int, size: int, value: float) -> torch.Tensor:
    return torch.full((n, c, size, size), value, dtype=torch.float64)


def coarse_images(n: int, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth images from 8 x 8 torch noise, bilinearly upsampled (align_corners=False)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n, c, 8, 8, generator=g)
    return torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear")


def mean_change(name: str, x: torch.Tensor, seed: int = 7) -> list[float]:
    """Mean absolute change of ``x`` under corruption ``name`` at severities 1..5 (its table rows
    passed to the implementation directly)."""
    fn = implementation(name, x.shape[-1])
    rows = table_for(name, x.shape[-1])
    return [float((fn(x, r, gen(seed + s)) - x).abs().mean()) for s, r in enumerate(rows)]
