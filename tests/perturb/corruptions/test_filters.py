"""The shared filters and resampling against scipy.ndimage and torch's own affine_grid."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from helpers.oracles import scipy_clipped_zoom

from selrob.perturb.corruptions import (
    _filters,
)


@pytest.mark.parametrize("mode", ["nearest", "reflect", "mirror"])
@pytest.mark.parametrize("sigma,truncate", [(0.4, 4.0), (1.0, 4.0), (6.4, 3.0), (40.0, 3.0)])
def test_gaussian_filter_matches_scipy(mode: str, sigma: float, truncate: float) -> None:
    img = np.random.default_rng(1).random((2, 29, 33))
    ref = np.stack([ndi.gaussian_filter(p, sigma, mode=mode, truncate=truncate) for p in img])
    out = _filters.gaussian_filter(torch.from_numpy(img), sigma, mode=mode, truncate=truncate)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("z", [1.0, 1.01, 1.06, 1.15, 1.75, 2.25, 4.5])
def test_clipped_zoom_matches_scipy(size: int, z: float) -> None:
    img = np.random.default_rng(2).random((size, size))
    out = _filters.clipped_zoom(torch.from_numpy(img)[None, None], z)[0, 0].numpy()
    np.testing.assert_allclose(out, scipy_clipped_zoom(img, z), atol=1e-12)


def test_affine_warp_matches_scipy_affine_transform() -> None:
    rng = np.random.default_rng(5)
    img = rng.random((32, 32))
    p1 = np.array([[26.0, 26.0], [26.0, 6.0], [6.0, 6.0]])  # (x, y)
    p2 = p1 + rng.uniform(-3, 3, p1.shape)
    # Output pixel q samples the input at the affine map of q taking p2 onto p1.
    m = np.linalg.solve(np.c_[p2, np.ones(3)], p1).T  # (2, 3), (x, y) convention
    rc = m[::-1, [1, 0, 2]]  # the same map in (row, col) convention
    ref = ndi.affine_transform(img, rc[:, :2], offset=rc[:, 2], order=1, mode="mirror")
    t = torch.from_numpy(img)[None, None]
    out = _filters.affine_warp(t, torch.from_numpy(p1)[None], torch.from_numpy(p2)[None])
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=1e-9)


def test_displace_matches_map_coordinates_reflect() -> None:
    rng = np.random.default_rng(6)
    img = rng.random((30, 34))
    dy, dx = rng.uniform(-40, 40, (2, 30, 34))
    rows, cols = np.mgrid[:30, :34]
    ref = ndi.map_coordinates(img, [rows + dy, cols + dx], order=1, mode="reflect")
    t = torch.from_numpy(img)[None, None]
    out = _filters.displace(t, torch.from_numpy(dx)[None], torch.from_numpy(dy)[None])
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=1e-9)


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid:UserWarning")
@pytest.mark.parametrize(("h", "w"), [(32, 32), (28, 28), (64, 48), (1, 5)])
def test_affine_grid_equals_torch(h, w):
    theta = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(h), dtype=torch.float64)
    want = torch.nn.functional.affine_grid(theta, [4, 3, h, w], align_corners=True)
    torch.testing.assert_close(_filters._affine_grid(theta, h, w), want, atol=1e-12, rtol=0)
