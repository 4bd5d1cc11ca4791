"""Tests of the corruption suite, part B: glass/motion/zoom blur, elastic, snow, frost, fog, spatter.

Every deterministic sub-step is checked against an independent oracle (scipy.ndimage, or a
plain numpy/Python loop written here from the published recipe); random steps are checked by
invariants and statistics. Functions are called directly with rows of the severity tables.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from selrob.errors import InvalidArgument
from selrob.perturb import _geometric as geo
from selrob.perturb import _textures as tex
from selrob.perturb import _weather as wea
from selrob.perturb.corruption_tables import table_for

FNS = {
    "glass_blur": geo.glass_blur,
    "motion_blur": geo.motion_blur,
    "zoom_blur": geo.zoom_blur,
    "elastic_transform": geo.elastic_transform,
    "snow": wea.snow,
    "frost": wea.frost,
    "fog": wea.fog,
    "spatter": wea.spatter,
}
RANDOM = sorted(set(FNS) - {"zoom_blur"})
FMNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand_images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=gen(seed))


def smooth_images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
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


def mean_change(name: str, x: torch.Tensor, seed: int = 7) -> list[float]:
    rows = table_for(name, x.shape[-1])
    return [float((FNS[name](x, r, gen(seed + s)) - x).abs().mean()) for s, r in enumerate(rows)]


# ---------------------------------------------------------------- generic contract


@pytest.mark.parametrize("name", sorted(FNS))
@pytest.mark.parametrize("c,size", [(1, 28), (3, 32)])
def test_shape_range_dtype_all_severities(name: str, c: int, size: int) -> None:
    x = rand_images(4, c, size)
    before = x.clone()
    for sev, row in enumerate(table_for(name, size), 1):
        y = FNS[name](x, row, gen(sev))
        assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
        assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    assert torch.equal(x, before), "input was modified"


@pytest.mark.parametrize("name", sorted(FNS))
def test_larger_sizes_and_float64(name: str) -> None:
    for size, n, sevs in ((64, 2, (1, 5)), (224, 1, (5,))):
        x = smooth_images(n, 3, size).double()
        for sev in sevs:
            y = FNS[name](x, table_for(name, size)[sev - 1], gen(sev))
            assert y.shape == x.shape and y.dtype == torch.float64
            assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("name", RANDOM)
def test_seeded_reproducible_and_seed_dependent(name: str) -> None:
    x = smooth_images(4, 3, 32)
    row = table_for(name, 32)[2]
    a, b, other = (FNS[name](x, row, gen(s)) for s in (11, 11, 12))
    assert torch.equal(a, b)
    assert not torch.equal(a, other)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(FNS))
def test_cuda_input_cpu_generator_matches_cpu(name: str) -> None:
    x = smooth_images(3, 3, 32)
    row = table_for(name, 32)[3]
    y = FNS[name](x.cuda(), row, gen(5))
    assert y.is_cuda
    torch.testing.assert_close(y.cpu(), FNS[name](x, row, gen(5)), atol=1e-4, rtol=0)


# ---------------------------------------------------------------- shared linear filters


@pytest.mark.parametrize("mode", ["nearest", "reflect", "mirror"])
@pytest.mark.parametrize("sigma,truncate", [(0.4, 4.0), (1.0, 4.0), (6.4, 3.0), (40.0, 3.0)])
def test_gaussian_blur_matches_scipy(mode: str, sigma: float, truncate: float) -> None:
    img = np.random.default_rng(1).random((2, 29, 33))
    ref = np.stack([ndi.gaussian_filter(p, sigma, mode=mode, truncate=truncate) for p in img])
    out = geo.gaussian_blur(torch.from_numpy(img), sigma, mode=mode, truncate=truncate)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)


def scipy_clipped_zoom(img: np.ndarray, z: float) -> np.ndarray:
    """The published recipe for a square 2-D image: centre crop, scipy zoom, centre trim."""
    h = img.shape[0]
    ch = int(np.ceil(h / z))
    top = (h - ch) // 2
    zoomed = ndi.zoom(img[top : top + ch, top : top + ch], z, order=1)
    trim = (zoomed.shape[0] - h) // 2
    return zoomed[trim : trim + h, trim : trim + h]


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("z", [1.0, 1.01, 1.06, 1.15, 1.75, 2.25, 4.5])
def test_clipped_zoom_matches_scipy(size: int, z: float) -> None:
    img = np.random.default_rng(2).random((size, size))
    out = geo.clipped_zoom(torch.from_numpy(img)[None, None], z)[0, 0].numpy()
    np.testing.assert_allclose(out, scipy_clipped_zoom(img, z), atol=1e-12)


# ---------------------------------------------------------------- zoom blur


def test_zoom_factor_lists_keep_the_float_arange_quirk() -> None:
    counts = [len(geo.zoom_factors(*row)) for row in table_for("zoom_blur", 32)]
    assert counts == [7, 12, 16, 21, 26]  # severities 1-2 keep the end point, 3-5 drop it
    assert geo.zoom_factors(1.16, 0.01)[-1] == pytest.approx(1.15)


@pytest.mark.parametrize("size,sev", [(28, 2), (32, 5), (40, 3), (64, 4)])
def test_zoom_blur_matches_scipy_mean_of_zooms(size: int, sev: int) -> None:
    img = np.random.default_rng(3).random((2, size, size))
    end, step = table_for("zoom_blur", size)[sev - 1]
    factors = np.arange(1, end, step)
    ref = np.stack(
        [(p + sum(scipy_clipped_zoom(p, z) for z in factors)) / (len(factors) + 1) for p in img]
    )
    out = geo.zoom_blur(torch.from_numpy(img)[:, None], (end, step))[:, 0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-9)


def test_zoom_blur_identity_cases() -> None:
    x = rand_images(3, 3, 32)
    torch.testing.assert_close(geo.zoom_blur(x, (1.005, 0.01)), x)  # factor list [1]
    const = torch.full((2, 1, 28, 28), 0.37)
    for row in table_for("zoom_blur", 28):
        torch.testing.assert_close(geo.zoom_blur(const, row), const)


# ---------------------------------------------------------------- glass blur


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
    off = geo.glass_offsets(3, h, w, d, iters, gen(d))
    perm = geo.glass_permutation(off, h, w, d)
    for i in range(3):
        expected = loop_glass(off[..., i].numpy().astype(np.int64), h, w, d)
        np.testing.assert_array_equal(perm[i].numpy(), expected)


def test_glass_offsets_follow_randint_minus_d_to_d() -> None:
    off = geo.glass_offsets(50, 32, 32, 2, 1, gen(0))
    assert set(off.unique().tolist()) == {-2, -1, 0, 1}  # +d is never drawn


def test_glass_blur_constant_and_pure_permutation() -> None:
    const = torch.full((2, 3, 32, 32), 0.6)
    for row in table_for("glass_blur", 32):
        torch.testing.assert_close(geo.glass_blur(const, row, gen(0)), const)
    x = torch.randperm(28 * 28, generator=gen(1)).float().div(28 * 28).reshape(1, 1, 28, 28)
    y = geo.glass_blur(x, (0.05, 1, 2), gen(2))  # sigma 0.05: both blurs are the identity
    torch.testing.assert_close(y.flatten().sort().values, x.flatten().sort().values)
    assert not torch.equal(x, y)


def test_glass_displacement_is_local_on_average() -> None:
    # A swap moves a pixel by at most d per axis, but the published loop can carry a pixel on
    # to later visits, so a few travel far (max ~18 px at d = 1); typical moves stay near d.
    for d, iters in ((1, 1), (1, 2), (2, 2)):
        perm = geo.glass_permutation(geo.glass_offsets(20, 64, 64, d, iters, gen(3)), 64, 64, d)
        src, dst = perm.numpy(), np.arange(64 * 64)[None]
        dr, dc = src // 64 - dst // 64, src % 64 - dst % 64
        dist = np.hypot(dr, dc)
        assert np.median(dist) <= d * iters
        assert 0.5 * d < dist.mean() <= 1.5 * d * iters
        assert abs(dr.mean()) < 0.1 and abs(dc.mean()) < 0.1  # no net drift


# ---------------------------------------------------------------- motion blur


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
    full = geo.motion_weights(3, 3.0)
    assert len(full) == 7 and sum(full) == pytest.approx(1.0, abs=1e-12)
    short = geo.motion_weights(6, 1.0)
    ref = [w for _, _, w in im_line(6, 1.0, 0.0)]
    assert sum(short) == pytest.approx(1.0, abs=1e-12)
    assert len(short) < len(ref) and sum(ref[len(short) :]) < 1e-6
    np.testing.assert_allclose(short, ref[: len(short)], atol=1e-6)


@pytest.mark.parametrize("angle", [-135.0, -90.0, -60.0, -45.0, -12.5, 0.0, 30.0, 45.0])
def test_motion_blur_of_a_dot_is_the_drawn_line(angle: float) -> None:
    x = torch.zeros(1, 1, 41, 41, dtype=torch.float64)
    x[0, 0, 20, 20] = 1.0
    out = geo.motion_blur_at(x, 9, 4.0, torch.tensor([angle]))[0, 0].numpy()
    ref = np.zeros((41, 41))
    for dr, dc, wt in im_line(9, 4.0, angle):  # out(p) = sum_i k_i x(p + o_i)
        ref[20 - dr, 20 - dc] += wt
    np.testing.assert_allclose(out, ref, atol=1e-9)


def test_motion_blur_replicates_edges_and_keeps_constants() -> None:
    ramp = torch.linspace(0, 1, 32, dtype=torch.float64).expand(2, 1, 32, 32).contiguous()
    out = geo.motion_blur_at(ramp, 6, 2.0, torch.tensor([0.0, 0.0]))[0, 0].numpy()
    taps = im_line(6, 2.0, 0.0)
    cols = np.arange(32)
    ref = sum(wt * np.linspace(0, 1, 32)[np.minimum(cols + dc, 31)] for _, dc, wt in taps)
    np.testing.assert_allclose(out[5], ref, atol=1e-6)
    const = torch.full((5, 3, 32, 32), 0.42)
    for row in table_for("motion_blur", 32):
        torch.testing.assert_close(geo.motion_blur(const, row, gen(1)), const)


def test_motion_blur_angles_are_uniform_in_plus_minus_45() -> None:
    x = torch.zeros(64, 1, 49, 49, dtype=torch.float64)
    x[:, :, 24, 24] = 1.0
    out = geo.motion_blur(x, (9, 3.0), gen(4))[:, 0].numpy()
    rr, cc = np.mgrid[:49, :49]
    dr = ((rr - 24) * out).sum(axis=(1, 2))  # the trail points against the angle
    dc = ((cc - 24) * out).sum(axis=(1, 2))
    trail = np.degrees(np.arctan2(-dr, -dc))
    assert np.all(np.abs(trail) <= 45 + 4) and trail.std() > 15


# ---------------------------------------------------------------- elastic transform


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
    out = geo.affine_warp(t, torch.from_numpy(p1)[None], torch.from_numpy(p2)[None])
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=1e-9)


def test_displace_matches_map_coordinates_reflect() -> None:
    rng = np.random.default_rng(6)
    img = rng.random((30, 34))
    dy, dx = rng.uniform(-40, 40, (2, 30, 34))
    rows, cols = np.mgrid[:30, :34]
    ref = ndi.map_coordinates(img, [rows + dy, cols + dx], order=1, mode="reflect")
    t = torch.from_numpy(img)[None, None]
    out = geo.displace(t, torch.from_numpy(dx)[None], torch.from_numpy(dy)[None])
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=1e-9)


def test_elastic_identity_without_jitter_or_field() -> None:
    x = rand_images(3, 3, 32).double()
    torch.testing.assert_close(geo.elastic_transform(x, (0.0, 0.0, 0.0), gen(0)), x)
    torch.testing.assert_close(geo.elastic_transform(x, (0.0, 3.0, 0.0), gen(0)), x)


def test_elastic_severity_one_moves_more_than_five_at_32px() -> None:
    # Documented exemption from monotonicity: at 32 px severity 1 is a pure affine jitter of
    # up to 2.56 px, severity 5 a jitter of 0.96 px plus a weak elastic field.
    change = mean_change("elastic_transform", smooth_images(16, 3, 32))
    assert change[0] > change[4]


# ---------------------------------------------------------------- fog and the plasma fractal


def numpy_plasma(mapsize: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square on a torus, written with explicit neighbour indices."""
    m = np.zeros((mapsize, mapsize))
    step, wib = mapsize, 100.0
    while step >= 2:
        half = step // 2
        idx = np.arange(0, mapsize, step)
        for i in idx:
            for j in idx:
                i2, j2 = (i + step) % mapsize, (j + step) % mapsize
                s = m[i, j] + m[i2, j] + m[i, j2] + m[i2, j2]
                m[i + half, j + half] = s / 4 + wib * rng.uniform(-wib, wib)
        for i in idx:
            for j in idx:
                up, left = (i - half) % mapsize, (j - half) % mapsize
                top = m[i + half, j + half] + m[up, j + half] + m[i, j] + m[i, (j + step) % mapsize]
                m[i, j + half] = top / 4 + wib * rng.uniform(-wib, wib)
                side = (
                    m[i + half, j + half] + m[i + half, left] + m[i, j] + m[(i + step) % mapsize, j]
                )
                m[i + half, j] = side / 4 + wib * rng.uniform(-wib, wib)
        step, wib = half, wib / decay
    m -= m.min()
    return m / m.max()


def roughness(maps: np.ndarray) -> float:
    return float(np.abs(np.diff(maps, axis=-1)).mean())


def test_plasma_range_size_and_smoothness() -> None:
    p = tex.plasma_fractal(20, 32, 3.0, gen(0)).numpy()
    assert p.shape == (20, 32, 32)
    np.testing.assert_allclose(p.min(axis=(1, 2)), 0.0)
    np.testing.assert_allclose(p.max(axis=(1, 2)), 1.0)
    rough = tex.plasma_fractal(20, 32, 1.5, gen(0)).numpy()
    assert roughness(rough) > 1.5 * roughness(p)
    with pytest.raises(InvalidArgument):
        tex.plasma_fractal(1, 48, 2.0, gen(0))


@pytest.mark.parametrize("decay", [3.0, 1.75])
def test_fog_adds_a_plasma_field_with_the_oracles_statistics(decay: float) -> None:
    c, n = 0.75, 96
    x = torch.full((n, 3, 32, 32), 0.5, dtype=torch.float64)
    y = wea.fog(x, (c, decay, 32), gen(1))
    field = (y * (0.5 + c) / 0.5 - x) / c  # no clipping: every output is at most 0.5
    torch.testing.assert_close(field[:, 0], field[:, 2])  # one map per image, all channels
    f = field[:, 0].numpy()
    assert f.min() >= -1e-9 and f.max() <= 1 + 1e-9
    rng = np.random.default_rng(0)
    ref = np.stack([numpy_plasma(32, decay, rng) for _ in range(n)])
    for stat in (np.mean, np.std, roughness):
        assert stat(f) == pytest.approx(stat(ref), rel=0.15)


def test_fog_zero_strength_is_identity_even_on_black() -> None:
    x = rand_images(3, 3, 32)
    x[0] = 0.0
    torch.testing.assert_close(wea.fog(x, (0.0, 2.0, 32), gen(0)), x)
    y = wea.fog(rand_images(2, 3, 64), (0.4, 3.0, 32), gen(0))  # map grows to 64
    assert y.shape == (2, 3, 64, 64)


# ---------------------------------------------------------------- snow


@pytest.mark.parametrize("c", [1, 3])
def test_snow_blend_without_flakes_matches_formula(c: int) -> None:
    x = rand_images(3, c, 32)
    mix = 0.85
    y = wea.snow(x, (0.1, 0.2, 1.0, 2.0, 8, 3.0, mix), gen(0))  # threshold 2: no snow layer
    xn = x.numpy()
    grey = xn if c == 1 else (0.299 * xn[:, :1] + 0.587 * xn[:, 1:2] + 0.114 * xn[:, 2:])
    ref = np.clip(mix * xn + (1 - mix) * np.maximum(xn, grey * 1.5 + 0.5), 0, 1)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-6)


def test_snow_layer_is_symmetric_under_half_turn() -> None:
    x = torch.zeros(4, 1, 32, 32, dtype=torch.float64)
    y = wea.snow(x, table_for("snow", 32)[3], gen(2))
    torch.testing.assert_close(y, y.flip(2, 3))
    assert (y > 0.5 * (1 - 0.85) + 1e-6).any()  # some flakes above the blended background


@pytest.mark.parametrize("make", [lambda: rand_images(16, 3, 32), lambda: fmnist_like(16)])
def test_snow_change_grows_with_severity(make) -> None:
    change = mean_change("snow", make())
    assert all(a < b for a, b in zip(change, change[1:], strict=False)), change


# ---------------------------------------------------------------- frost


def test_frost_texture_deterministic_per_seed_and_plausible() -> None:
    a, b, other = tex.frost_texture(64, 3), tex.frost_texture(64, 3), tex.frost_texture(64, 4)
    assert a.shape == (3, 64, 64) and torch.equal(a, b) and not torch.equal(a, other)
    assert a.min() >= 0 and a.max() <= 1
    bank = tex.frost_bank(0.2)
    assert bank.shape == (5, 3, round(tex.FROST_BASE_SIZE * 0.2), round(tex.FROST_BASE_SIZE * 0.2))
    assert 0.3 < float(bank.mean()) < 0.6 and float(bank.std()) > 0.08
    r, g, b_ = bank.mean(dim=(0, 2, 3)).tolist()
    assert r < g < b_  # pale blue-white


def test_frost_formula_bounds_and_grey() -> None:
    x = fmnist_like(6)
    torch.testing.assert_close(wea.frost(x, (1.0, 0.0, 0.2), gen(0)), x)
    y = wea.frost(x, (0.9, 0.4, 0.2), gen(1))
    assert (y >= 0.9 * x - 1e-6).all() and (y <= 0.9 * x + 0.4 + 1e-6).all()
    assert not torch.equal(y[0], y[1])  # different crops or textures per image


@pytest.mark.parametrize("make", [lambda: rand_images(16, 3, 32), lambda: fmnist_like(16)])
def test_frost_hides_the_image_more_with_severity(make) -> None:
    # The image weight falls and the frost weight rises, so the image's share of the output
    # falls; mean |change| is not monotone (darkening cancels frost on mid-grey pixels).
    x = make()
    corr = []
    for s, row in enumerate(table_for("frost", x.shape[-1])):
        y = wea.frost(x, row, gen(20 + s))
        corr.append(float(np.corrcoef(x.flatten().numpy(), y.flatten().numpy())[0, 1]))
    assert all(a > b for a, b in zip(corr, corr[1:], strict=False)), corr


# ---------------------------------------------------------------- spatter


def loop_canny(img: np.ndarray, low: float = 50, high: float = 150) -> np.ndarray:
    """OpenCV's Canny (aperture 3, L1 magnitude) written with plain loops."""
    h, w = img.shape
    p = np.pad(img.astype(np.int64), 1, mode="edge")
    gx = np.zeros((h, w), np.int64)
    gy = np.zeros((h, w), np.int64)
    for r in range(h):
        for c in range(w):
            win = p[r : r + 3, c : c + 3]
            gx[r, c] = (win[:, 2] - win[:, 0]) @ np.array([1, 2, 1])
            gy[r, c] = np.array([1, 2, 1]) @ (win[2] - win[0])
    mag = np.abs(gx) + np.abs(gy)
    mp = np.pad(mag, 1)
    state = np.zeros((h, w), np.int64)  # 0 none, 1 weak, 2 strong
    for r in range(h):
        for c in range(w):
            m, ax, ay = mag[r, c], abs(gx[r, c]), abs(gy[r, c]) << 15
            if m <= low:
                continue
            if ay < ax * 13573:
                ok = m > mp[r + 1, c] and m >= mp[r + 1, c + 2]
            elif ay > ax * 13573 + (ax << 16):
                ok = m > mp[r, c + 1] and m >= mp[r + 2, c + 1]
            else:
                s = -1 if (gx[r, c] < 0) != (gy[r, c] < 0) else 1
                ok = m > mp[r, c + 1 - s] and m > mp[r + 2, c + 1 + s]
            if ok:
                state[r, c] = 2 if m > high else 1
    stack = list(zip(*np.nonzero(state == 2), strict=True))
    while stack:
        r, c = stack.pop()
        for rr in range(max(r - 1, 0), min(r + 2, h)):
            for cc in range(max(c - 1, 0), min(c + 2, w)):
                if state[rr, cc] == 1:
                    state[rr, cc] = 2
                    stack.append((rr, cc))
    return state == 2


def liquid_layer(
    rng: np.random.Generator, size: int, mean: float, std: float, sigma: float, thr: float
) -> np.ndarray:
    liq = ndi.gaussian_filter(rng.normal(mean, std, (size, size)), sigma, mode="nearest")
    liq[liq < thr] = 0
    return np.minimum(np.floor(liq * 255), 255)


def test_canny_matches_loop_oracle() -> None:
    rng = np.random.default_rng(7)
    for i, params in enumerate(
        [(0.62, 0.1, 0.7, 0.7), (0.65, 0.3, 1.0, 0.69), (0.5, 0.3, 0.5, 0.0)] * 3
    ):
        img = liquid_layer(rng, 20 + i, *params)
        out = wea.canny_edges(torch.from_numpy(img).float()[None, None])[0, 0].numpy()
        np.testing.assert_array_equal(out, loop_canny(img))


def test_canny_of_a_square_is_its_outline() -> None:
    img = torch.zeros(1, 1, 12, 12)
    img[..., 3:8, 4:9] = 200.0
    # Recorded from cv2.Canny(img, 50, 150) (OpenCV 5.0): left/top edges on the dry side,
    # right/bottom ones on the wet side, corners cut diagonally.
    rows = ["..ooo", ".o...o", "o....o", "o....o", "o....o", ".ooooo"]
    ring = torch.zeros(12, 12, dtype=torch.bool)
    for r, line in enumerate(rows):
        for c, ch in enumerate(line):
            ring[2 + r, 3 + c] = ch == "o"
    assert torch.equal(wea.canny_edges(img)[0, 0], ring)


def loop_chamfer(edge: np.ndarray, cap: float = 20.0) -> np.ndarray:
    """OpenCV's two-pass 5 x 5 chamfer (1, 1.4, 2.1969) written with plain loops."""
    h, w = edge.shape
    d = np.full((h + 4, w + 4), 1e9)
    d[2:-2, 2:-2][edge] = 0.0
    a, b, c = 1.0, 1.4, 2.1969
    fwd = [
        (-2, -1, c),
        (-2, 1, c),
        (-1, -2, c),
        (-1, -1, b),
        (-1, 0, a),
        (-1, 1, b),
        (-1, 2, c),
        (0, -1, a),
    ]
    for mask, rows, cols in (
        (fwd, range(h), range(w)),
        ([(-r, -q, v) for r, q, v in fwd], range(h - 1, -1, -1), range(w - 1, -1, -1)),
    ):
        for r in rows:
            for q in cols:
                d[r + 2, q + 2] = min(
                    [d[r + 2, q + 2]] + [d[r + 2 + dr, q + 2 + dq] + v for dr, dq, v in mask]
                )
    return np.minimum(d[2:-2, 2:-2], cap)


def test_chamfer_distance_matches_loop_oracle() -> None:
    rng = np.random.default_rng(10)
    edge = rng.random((3, 26, 31)) < 0.015
    out = wea.chamfer_distance(torch.from_numpy(edge)[:, None])[:, 0].numpy()
    for e, o in zip(edge, out, strict=True):
        np.testing.assert_allclose(o, loop_chamfer(e), atol=1e-5)


def test_box_and_emboss_match_scipy_correlate_reflect101() -> None:
    img = np.random.default_rng(11).integers(0, 256, (2, 1, 17, 19)).astype(np.float64)
    t = torch.from_numpy(img)
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64)
    for kernel, got in (
        (np.full((3, 3), 1 / 9), wea._box3(t)),
        (emboss, wea._correlate3(t, tuple(map(tuple, emboss)), "reflect")),
    ):
        ref = np.stack([ndi.correlate(p[0], kernel, mode="mirror") for p in img])
        np.testing.assert_allclose(got[:, 0].numpy(), ref, atol=1e-9)


def test_chamfer_distance_close_to_euclidean() -> None:
    rng = np.random.default_rng(8)
    edge = rng.random((4, 32, 32)) < 0.01
    edge[:, 5, 7] = True
    ref = np.stack([ndi.distance_transform_edt(~e) for e in edge])
    out = wea.chamfer_distance(torch.from_numpy(edge)[:, None])[:, 0].numpy()
    near = ref < 20
    assert np.all(np.abs(out - ref)[near] <= 0.03 * ref[near] + 1e-5)
    assert np.all(out[~near] >= 19.0) and out.max() <= 20
    empty = wea.chamfer_distance(torch.zeros(1, 1, 8, 8, dtype=torch.bool))
    assert torch.all(empty == 20)


def test_equalize_hist_matches_cdf_formula() -> None:
    rng = np.random.default_rng(9)
    v = rng.integers(3, 21, (3, 16, 16))
    v[2] = 7  # constant image: unchanged
    out = wea.equalize_hist(torch.from_numpy(v).float()[:, None])[:, 0].numpy()
    for img, res in zip(v[:2], out[:2], strict=True):
        hist = np.bincount(img.ravel(), minlength=256)
        cdf = np.cumsum(hist)
        first = hist[img.min()]
        lut = np.clip(np.round((cdf - first) * 255.0 / (img.size - first)), 0, 255)
        np.testing.assert_array_equal(res, lut[img])
    np.testing.assert_array_equal(out[2], v[2])


@pytest.mark.parametrize("mud", [0, 1])
def test_spatter_without_liquid_is_identity(mud: int) -> None:
    x = rand_images(2, 3, 32)
    torch.testing.assert_close(wea.spatter(x, (0.65, 0.1, 0.7, 2.0, 0.6, mud), gen(0)), x)


def test_spatter_colours_and_grey_equivalents() -> None:
    x = torch.zeros(6, 3, 32, 32)
    water = wea.spatter(x, table_for("spatter", 32)[2], gen(1))
    ratio = water[:, 0] / water[:, 1].clamp_min(1e-9)
    wet = water[:, 1] > 0.01
    assert wet.any()
    torch.testing.assert_close(ratio[wet], torch.full_like(ratio[wet], 175 / 238))
    mud = wea.spatter(torch.ones(6, 3, 32, 32), table_for("spatter", 32)[3], gen(2))
    dirty = mud[:, 0] < 0.999
    assert dirty.any()
    drop = 1 - mud[:, :, dirty.any(0)]  # x (1 - m) + brown m: drop proportional to 1 - brown
    r, g, b = (drop[:, i].sum() for i in range(3))
    assert float(g / r) == pytest.approx((255 - 42) / (255 - 63), rel=1e-4)
    assert float(b / r) == pytest.approx((255 - 20) / (255 - 63), rel=1e-4)
    grey = wea.spatter(torch.zeros(6, 1, 32, 32), table_for("spatter", 32)[2], gen(1))
    grey_level = (0.299 * 175 + 0.587 * 238 + 0.114 * 238) / 255
    torch.testing.assert_close(grey[:, 0], water[:, 1] * grey_level / (238 / 255))


@pytest.mark.parametrize("make", [lambda: rand_images(16, 3, 32), lambda: fmnist_like(16)])
def test_spatter_change_grows_within_each_branch(make) -> None:
    # Severities 1-3 are water, 4-5 mud; at 32/28 px water severity 3 changes the image more
    # than mud severity 4 (the published parameters), so monotonicity holds within branches.
    change = mean_change("spatter", make())
    assert change[0] < change[1] < change[2] and change[3] < change[4], change


# ---------------------------------------------------------------- real Fashion-MNIST


@pytest.mark.data
@pytest.mark.skipif(not FMNIST.exists(), reason=f"no Fashion-MNIST at {FMNIST}")
def test_on_real_fashion_mnist() -> None:
    with gzip.open(FMNIST) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16)[: 16 * 784]
    x = torch.from_numpy(raw.reshape(16, 1, 28, 28).astype(np.float32) / 255)
    snow = mean_change("snow", x)
    assert all(a < b for a, b in zip(snow, snow[1:], strict=False)), snow
    spat = mean_change("spatter", x)
    assert spat[0] < spat[1] < spat[2] and spat[3] < spat[4], spat
    for name in FNS:
        for row in table_for(name, 28):
            y = FNS[name](x, row, gen(0))
            assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
