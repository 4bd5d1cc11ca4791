"""Blur corruptions against oracles that share no code with them: scipy.ndimage filters, a
plain loop of the published glass-blur swaps, ImageMagick's motion line drawn by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from helpers.images import (
    coarse_images,
    gen,
    rand_images,
)
from helpers.oracles import scipy_clipped_zoom

from selrob.perturb import corruptions as C
from selrob.perturb.corruptions import (
    _filters,
    blur,
)
from selrob.perturb.corruptions.tables import table_for


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3), (64, 3), (224, 1)])
def test_gaussian_blur_matches_scipy(size, channels):
    x = torch.rand(2, channels, size, size, generator=gen(1))
    for s in range(1, 6):
        sigma = table_for("gaussian_blur", size)[s - 1]
        got = C.corrupt(x, "gaussian_blur", s).numpy()
        for i in range(2):
            for ch in range(channels):
                want = ndi.gaussian_filter(
                    x[i, ch].double().numpy(), sigma, mode="nearest", truncate=4.0
                )
                np.testing.assert_allclose(got[i, ch], want, atol=1e-5)


def _np_defocus_kernel(radius: float, alias: float) -> np.ndarray:
    """Disk on a 17x17 (or (2r+1)^2) grid, normalised, then blurred by a 3x3 (5x5) Gaussian."""
    grid = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    k = 3 if radius <= 8 else 5
    t = np.arange(k) - (k - 1) / 2
    g = np.exp(-(t**2) / (2 * alias**2))
    g /= g.sum()
    return ndi.convolve(disk, np.outer(g, g), mode="mirror")


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3), (64, 3), (224, 1)])
def test_defocus_blur_matches_scipy(size, channels):
    n = 1 if size >= 160 else 2
    x = torch.rand(n, channels, size, size, generator=gen(2))
    for s in range(1, 6):
        radius, alias = table_for("defocus_blur", size)[s - 1]
        kernel = _np_defocus_kernel(radius, alias)
        got = C.corrupt(x, "defocus_blur", s).numpy()
        for i in range(n):
            for ch in range(channels):
                want = ndi.correlate(x[i, ch].double().numpy(), kernel, mode="mirror")
                np.testing.assert_allclose(got[i, ch], np.clip(want, 0, 1), atol=1e-5)


def test_zoom_factor_lists_keep_the_float_arange_quirk() -> None:
    counts = [len(blur.zoom_factors(*row)) for row in table_for("zoom_blur", 32)]
    assert counts == [7, 12, 16, 21, 26]  # severities 1-2 keep the end point, 3-5 drop it
    assert blur.zoom_factors(1.16, 0.01)[-1] == pytest.approx(1.15)


@pytest.mark.parametrize("size,sev", [(28, 2), (32, 5), (40, 3), (64, 4)])
def test_zoom_blur_matches_scipy_mean_of_zooms(size: int, sev: int) -> None:
    img = np.random.default_rng(3).random((2, size, size))
    end, step = table_for("zoom_blur", size)[sev - 1]
    factors = np.arange(1, end, step)
    ref = np.stack(
        [(p + sum(scipy_clipped_zoom(p, z) for z in factors)) / (len(factors) + 1) for p in img]
    )
    out = blur.zoom_blur(torch.from_numpy(img)[:, None], (end, step))[:, 0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-9)


def test_zoom_blur_identity_cases() -> None:
    x = rand_images(3, 3, 32)
    torch.testing.assert_close(blur.zoom_blur(x, (1.005, 0.01)), x)  # factor list [1]
    const = torch.full((2, 1, 28, 28), 0.37)
    for row in table_for("zoom_blur", 28):
        torch.testing.assert_close(blur.zoom_blur(const, row), const)


def loop_glass(offsets: np.ndarray, h: int, w: int, d: int) -> np.ndarray:
    """The published swap loop on pixel indices; offsets[k, a, b] = (dy, dx) of one visit."""
    a = np.arange(h * w).reshape(h, w)
    for rnd in offsets:
        for hh in range(h - d, d, -1):
            for ww in range(w - d, d, -1):
                dy, dx = rnd[h - d - hh, w - d - ww]
                a[hh, ww], a[hh + dy, ww + dx] = a[hh + dy, ww + dx], a[hh, ww]
    return a.ravel()


@pytest.mark.parametrize("h,w,d,iters", [(32, 32, 1, 2), (28, 30, 2, 2), (20, 24, 3, 1)])
def test_glass_swaps_equal_the_sequential_loop(h: int, w: int, d: int, iters: int) -> None:
    off = blur.glass_offsets(3, h, w, d, iters, gen(d))
    perm = blur.glass_permutation(off, h, w, d)
    for i in range(3):
        expected = loop_glass(off[..., i].numpy().astype(np.int64), h, w, d)
        np.testing.assert_array_equal(perm[i].numpy(), expected)


def test_glass_offsets_follow_randint_minus_d_to_d() -> None:
    off = blur.glass_offsets(50, 32, 32, 2, 1, gen(0))
    assert set(off.unique().tolist()) == {-2, -1, 0, 1}  # +d is never drawn


def test_glass_blur_constant_and_pure_permutation() -> None:
    const = torch.full((2, 3, 32, 32), 0.6)
    for row in table_for("glass_blur", 32):
        torch.testing.assert_close(blur.glass_blur(const, row, gen(0)), const)
    x = torch.randperm(28 * 28, generator=gen(1)).float().div(28 * 28).reshape(1, 1, 28, 28)
    y = blur.glass_blur(x, (0.05, 1, 2), gen(2))  # sigma 0.05: both blurs are the identity
    torch.testing.assert_close(y.flatten().sort().values, x.flatten().sort().values)
    assert not torch.equal(x, y)


def test_glass_displacement_is_local_on_average() -> None:
    # A swap moves a pixel by at most d per axis, but the published loop can carry a pixel on
    # to later visits, so a few travel far (max ~18 px at d = 1); typical moves stay near d.
    for d, iters in ((1, 1), (1, 2), (2, 2)):
        perm = blur.glass_permutation(blur.glass_offsets(20, 64, 64, d, iters, gen(3)), 64, 64, d)
        src, dst = perm.numpy(), np.arange(64 * 64)[None]
        dr, dc = src // 64 - dst // 64, src % 64 - dst % 64
        dist = np.hypot(dr, dc)
        assert np.median(dist) <= d * iters
        assert 0.5 * d < dist.mean() <= 1.5 * d * iters
        assert abs(dr.mean()) < 0.1 and abs(dc.mean()) < 0.1  # no net drift


def im_line(radius: float, sigma: float, angle: float) -> list[tuple[int, int, float]]:
    """(row, col, weight) taps of ImageMagick's motion blur: one-sided Gaussian line."""
    width = 2 * math.ceil(radius) + 1
    k = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    k /= k.sum()
    a = math.radians(angle)
    return [
        (math.ceil(i * math.sin(a) - 0.5), math.ceil(i * math.cos(a) - 0.5), float(k[i]))
        for i in range(width)
    ]


def test_motion_weights_normalised_and_truncated_tail_tiny() -> None:
    full = _filters.motion_weights(3, 3.0)
    assert len(full) == 7 and sum(full) == pytest.approx(1.0, abs=1e-12)
    short = _filters.motion_weights(6, 1.0)
    ref = [w for _, _, w in im_line(6, 1.0, 0.0)]
    assert sum(short) == pytest.approx(1.0, abs=1e-12)
    assert len(short) < len(ref) and sum(ref[len(short) :]) < 1e-6
    np.testing.assert_allclose(short, ref[: len(short)], atol=1e-6)


@pytest.mark.parametrize("angle", [-135.0, -90.0, -60.0, -45.0, -12.5, 0.0, 30.0, 45.0])
def test_motion_blur_of_a_dot_is_the_drawn_line(angle: float) -> None:
    x = torch.zeros(1, 1, 41, 41, dtype=torch.float64)
    x[0, 0, 20, 20] = 1.0
    out = _filters.motion_blur_at(x, 9, 4.0, torch.tensor([angle]))[0, 0].numpy()
    ref = np.zeros((41, 41))
    for dr, dc, wt in im_line(9, 4.0, angle):  # out(p) = sum_i k_i x(p + o_i)
        ref[20 - dr, 20 - dc] += wt
    np.testing.assert_allclose(out, ref, atol=1e-9)


def test_motion_blur_replicates_edges_and_keeps_constants() -> None:
    ramp = torch.linspace(0, 1, 32, dtype=torch.float64).expand(2, 1, 32, 32).contiguous()
    out = _filters.motion_blur_at(ramp, 6, 2.0, torch.tensor([0.0, 0.0]))[0, 0].numpy()
    taps = im_line(6, 2.0, 0.0)
    cols = np.arange(32)
    ref = sum(wt * np.linspace(0, 1, 32)[np.minimum(cols + dc, 31)] for _, dc, wt in taps)
    np.testing.assert_allclose(out[5], ref, atol=1e-6)
    const = torch.full((5, 3, 32, 32), 0.42)
    for row in table_for("motion_blur", 32):
        torch.testing.assert_close(blur.motion_blur(const, row, gen(1)), const)


def test_motion_blur_angles_are_uniform_in_plus_minus_45() -> None:
    x = torch.zeros(64, 1, 49, 49, dtype=torch.float64)
    x[:, :, 24, 24] = 1.0
    out = blur.motion_blur(x, (9, 3.0), gen(4))[:, 0].numpy()
    rr, cc = np.mgrid[:49, :49]
    dr = ((rr - 24) * out).sum(axis=(1, 2))  # the trail points against the angle
    dc = ((cc - 24) * out).sum(axis=(1, 2))
    trail = np.degrees(np.arctan2(-dr, -dc))
    assert np.all(np.abs(trail) <= 45 + 4) and trail.std() > 15


@pytest.mark.parametrize("size", [28, 32])
def test_zoom_blur_sparse_equals_dense(size):
    x = coarse_images(4, 3, size, seed=2).double()
    factors = tuple(blur.zoom_factors(1.26, 0.01))
    dense = blur._zoom_blur_operator(size, size, factors)
    want = (x.reshape(-1, size * size) @ dense.T).reshape(x.shape).clamp(0, 1)
    got = blur.zoom_blur(x, (1.26, 0.01))
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
