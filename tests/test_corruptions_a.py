"""Tests of the corruption registry and the part-A corruptions against independent oracles.

Oracles share no code with selrob: per-image numpy / scipy.ndimage / Pillow / matplotlib
re-derivations from the published formulas (Hendrycks & Dietterich, 2019).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import struct
from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
from PIL import Image

from selrob.errors import InvalidArgument, SelrobError, UnknownName
from selrob.perturb import corruptions as C
from selrob.perturb.corruption_tables import TABLES, table_for, table_size

FMNIST = Path(os.environ.get("SELROB_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
CORRUPTIONS_MD = Path("/work/shared/CORRUPTIONS.md")
# Published parameters win over monotonicity (CORRUPTIONS.md): saturate desaturates at
# severities 1-2 and oversaturates at 3-5; elastic_transform's severity 1 at 32 px is a pure
# affine jitter that moves pixels more than severity 5's elastic field. glass_blur too: within
# each iteration count a larger sigma re-blurs the swapped pixels towards the clean image. With
# an independent numpy re-derivation of the published algorithm on 40 Fashion-MNIST test images
# (32-px table) the mean L2 distance per severity was 5.82, 5.80, 5.01, 6.95, 6.05.
# frost is x a + texture b with a falling and b nearly flat ((.9, .4), (.85, .4), (.75, .45) at
# 32 px), so wherever the frost brightens the image the change |(a - 1) x + b f| shrinks from
# severity 3 to 4 (and elsewhere, depending on image and texture brightness). spatter switches
# from water (noise std .3) at severity 3 to mud (std .1, so fewer pixels pass the same
# threshold) at 4; we saw the change drop there with part B's implementation at 28, 32, 64 px
# but have not re-derived the published spatter independently.
NON_MONOTONE = {"saturate", "elastic_transform", "glass_blur", "frost", "spatter"}
# pixelate follows Pillow's BOX (equal weights over the input pixels whose centres fall in the
# window, not area weights), so some size ratios pass many pixels through unchanged: on white
# noise at 32 px, 32 -> 30 -> 32 changes more than 32 -> 28 -> 32. It is monotone on real
# Fashion-MNIST (checked there) but not on every synthetic batch, so random images exempt it.
RANDOM_IMAGE_EXEMPT = {"pixelate"}
# motion_blur at 32 px: severities 3 and 4 are (radius 6, sigma 2) and (radius 8, sigma 2); the
# kernel taps beyond 6 px weigh exp(-36 / 8) of the first or less, so the two are ~equal.
TIES = {("motion_blur", 32): (3, 4)}


def available(name: str) -> bool:
    """Whether ``name``'s implementation module exists yet (part B lands separately)."""
    try:
        C.implementation(name)
    except (ImportError, AttributeError):
        return False
    return True


def smooth_images(n: int, c: int, size: int, seed: int) -> torch.Tensor:
    """(n, c, size, size) smooth random images in [0, 1]: bilinear upsampling of 6x6 noise."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n, c, 6, 6, generator=g)
    return F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


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


# ----------------------------------------------------------------------------- registry


def test_names_and_order():
    assert C.STANDARD[:4] == ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur")
    assert C.STANDARD[-3:] == ("elastic_transform", "pixelate", "jpeg_compression")
    assert len(C.STANDARD) == 15 and len(C.EXTRA) == 4
    assert C.CORRUPTIONS == C.STANDARD + C.EXTRA
    assert C.EXTRA == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    assert len(set(C.CORRUPTIONS)) == 19
    assert set(TABLES) == set(C.CORRUPTIONS)
    for name in C.CORRUPTIONS:
        for size in (28, 32, 64, 224):
            assert len(table_for(name, size)) == 5


def test_applicable_and_corruptions_for():
    assert not C.applicable("saturate", 1)
    assert C.applicable("saturate", 3) and C.applicable("brightness", 1)
    assert C.corruptions_for(3) == list(C.CORRUPTIONS)
    assert C.corruptions_for(1) == [n for n in C.CORRUPTIONS if n != "saturate"]
    with pytest.raises(InvalidArgument):
        C.applicable("fog", 2)
    with pytest.raises(UnknownName):
        C.applicable("fogg", 3)


@pytest.mark.parametrize(
    ("size", "expected"), [(28, 32), (32, 32), (47, 32), (48, 64), (64, 64), (159, 64), (160, 224)]
)
def test_table_size(size, expected):
    assert table_size(size) == expected


def _md_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.match(r"([a-z_]+) \(", cells[0])
        if m and len(cells) == 4 and m.group(1) != "corruption":
            name = "elastic_transform" if m.group(1) == "elastic" else m.group(1)
            rows[name] = cells[1:]
    return rows


def test_tables_match_corruptions_md():
    """The transcription agrees with the shared spec wherever the spec lists numbers."""
    if not CORRUPTIONS_MD.exists():
        pytest.skip("CORRUPTIONS.md not available")
    rows = _md_rows(CORRUPTIONS_MD.read_text())
    assert set(rows) == set(TABLES)
    checked = 0
    for name, cells in rows.items():
        for size, cell in zip((32, 64, 224), cells, strict=True):
            cell = cell.split(";")[0]
            scale = 1.0
            if m := re.match(r"×(\d+):", cell):
                scale, cell = float(m.group(1)), cell[m.end() :]
            tuples = re.findall(r"\(([^)]*)\)", cell)
            table = table_for(name, size)
            if "→" in cell:  # zoom_blur's arange end points: checked in its own test
                continue
            if len(tuples) == 5:
                for row, tup in zip(table, tuples, strict=True):
                    nums = [float(v) * scale for v in tup.split(",")]
                    assert np.allclose(row[: len(nums)], nums), (name, size, row, nums)
                checked += 1
                continue
            nums = re.findall(r"(?<![\w.])(\d*\.?\d+)(?![\w.])", cell.replace("(BOX up)", ""))
            nums = [n for n in nums if not cell.startswith("same")]
            if len(nums) == 5:
                assert np.allclose(table, [float(v) for v in nums]), (name, size)
                checked += 1
    assert checked >= 45  # 15 scalar/tuple corruptions x 3 sizes, at least


# ----------------------------------------------------------------------- deterministic oracles


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("size", [32, 64])
def test_brightness_and_saturate_match_matplotlib_hsv(severity, size):
    x = smooth_images(3, 3, size, seed=severity)
    x[0, :, :4, :4] = 0.5  # grey patch: hue 0 convention
    x[1, :, :4, :4] = 0.0  # black patch
    c = table_for("brightness", size)[severity - 1]
    a, b = table_for("saturate", size)[severity - 1]
    got_b = C.corrupt(x, "brightness", severity)
    got_s = C.corrupt(x, "saturate", severity)
    for i in range(3):
        hsv = mcolors.rgb_to_hsv(to_hwc(x[i]))
        hb = hsv.copy()
        hb[..., 2] = np.clip(hb[..., 2] + c, 0, 1)
        hs = hsv.copy()
        hs[..., 1] = np.clip(hs[..., 1] * a + b, 0, 1)
        np.testing.assert_allclose(to_hwc(got_b[i]), mcolors.hsv_to_rgb(hb), atol=1e-5)
        np.testing.assert_allclose(to_hwc(got_s[i]), mcolors.hsv_to_rgb(hs), atol=1e-5)


def test_brightness_grey_adds_and_clips():
    x = load_fmnist(8) if (FMNIST / "t10k-images-idx3-ubyte.gz").exists() else None
    if x is None:
        x = smooth_images(8, 1, 28, seed=3)
    for s in range(1, 6):
        c = table_for("brightness", 28)[s - 1]
        np.testing.assert_allclose(
            C.corrupt(x, "brightness", s).numpy(), np.clip(x.numpy() + c, 0, 1), atol=1e-6
        )


@pytest.mark.parametrize("size", [28, 32, 64])
def test_contrast_per_channel_mean(size):
    x = smooth_images(4, 3, size, seed=7)
    for s in range(1, 6):
        c = table_for("contrast", size)[s - 1]
        got = C.corrupt(x, "contrast", s).numpy()
        for i in range(4):
            img = x[i].double().numpy()
            m = img.mean(axis=(1, 2), keepdims=True)
            np.testing.assert_allclose(got[i], np.clip((img - m) * c + m, 0, 1), atol=1e-6)


def _pil_pixelate_float(img: np.ndarray, scale: float, nearest_up: bool) -> np.ndarray:
    """Pillow BOX down / BOX (or NEAREST) up on each float32 channel plane (mode 'F')."""
    h, w = img.shape[1:]
    up = Image.Resampling.NEAREST if nearest_up else Image.Resampling.BOX
    out = []
    for plane in img:
        im = Image.fromarray(plane.astype(np.float32))
        im = im.resize((int(w * scale), int(h * scale)), Image.Resampling.BOX).resize((w, h), up)
        out.append(np.asarray(im))
    return np.stack(out)


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3), (64, 3), (224, 1)])
def test_pixelate_matches_pillow(size, channels):
    x = torch.rand(2, channels, size, size, generator=gen(size))
    for s in range(1, 6):
        scale = table_for("pixelate", size)[s - 1]
        got = C.corrupt(x, "pixelate", s).numpy()
        for i in range(2):
            want = _pil_pixelate_float(x[i].numpy(), scale, nearest_up=size >= 160)
            np.testing.assert_allclose(got[i], want, atol=1e-5)


def test_pixelate_matches_pillow_uint8_rgb():
    x8 = torch.randint(0, 256, (3, 3, 32, 32), generator=gen(5), dtype=torch.uint8)
    x = x8.float() / 255
    for s in range(1, 6):
        scale = table_for("pixelate", 32)[s - 1]
        got = (C.corrupt(x, "pixelate", s) * 255).round().numpy()
        for i in range(3):
            im = Image.fromarray(x8[i].permute(1, 2, 0).numpy())
            im = im.resize((int(32 * scale),) * 2, Image.Resampling.BOX)
            want = np.asarray(im.resize((32, 32), Image.Resampling.BOX)).transpose(2, 0, 1)
            assert np.abs(got[i] - want).max() <= 2


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


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3), (64, 3)])
def test_jpeg_matches_pillow(size, channels):
    x = smooth_images(3, channels, size, seed=11)
    x8 = (x * 255).round().to(torch.uint8)
    for s in range(1, 6):
        q = table_for("jpeg_compression", size)[s - 1]
        got = (C.corrupt(x, "jpeg_compression", s) * 255).round().to(torch.uint8).numpy()
        for i in range(3):
            arr = x8[i].permute(1, 2, 0).numpy()
            arr = arr[..., 0] if channels == 1 else arr
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, "JPEG", quality=q)  # Pillow's default: 4:2:0
            want = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
            want = want[None] if channels == 1 else want.transpose(2, 0, 1)
            assert np.array_equal(got[i], want), (s, i)
            assert not np.array_equal(got[i], x8[i].numpy())


# ------------------------------------------------------------------------------ noise statistics


def _grey(n: int, c: int, size: int, value: float) -> torch.Tensor:
    return torch.full((n, c, size, size), value, dtype=torch.float64)


@pytest.mark.parametrize("size", [32, 64])
def test_gaussian_noise_statistics(size):
    x = _grey(16, 3, size, 0.5)
    for s in (1, 5):
        sigma = table_for("gaussian_noise", size)[s - 1]
        d = (C.corrupt(x, "gaussian_noise", s, gen(s)) - x).numpy()
        assert abs(d.mean()) < 4 * sigma / np.sqrt(d.size)
        assert d.std() == pytest.approx(sigma, rel=0.02)


@pytest.mark.parametrize("size", [32, 64])
def test_shot_noise_statistics(size):
    x = _grey(16, 3, size, 0.5)
    x[:, :, : size // 2] = 0.25
    for s in (1, 5):
        lam = table_for("shot_noise", size)[s - 1]
        y = C.corrupt(x, "shot_noise", s, gen(s)).numpy()
        for value, part in ((0.25, y[:, :, : size // 2]), (0.5, y[:, :, size // 2 :])):
            assert part.mean() == pytest.approx(value, abs=4 * np.sqrt(value / lam / part.size))
            assert part.var() == pytest.approx(value / lam, rel=0.05)
            # counts are integers: values lie on the 1/lam lattice
            assert np.allclose(part * lam, np.round(part * lam), atol=1e-6)


@pytest.mark.parametrize("size", [32, 64])
def test_impulse_noise_statistics(size):
    x = _grey(16, 3, size, 0.5)
    for s in (1, 5):
        amount = table_for("impulse_noise", size)[s - 1]
        y = C.corrupt(x, "impulse_noise", s, gen(s)).numpy()
        changed = y != 0.5
        n = y.size
        assert changed.mean() == pytest.approx(amount, abs=4 * np.sqrt(amount / n))
        assert set(np.unique(y[changed])) <= {0.0, 1.0}
        salt = (y == 1.0).sum() / changed.sum()
        assert salt == pytest.approx(0.5, abs=4 * np.sqrt(0.25 / changed.sum()))
        # channels are flipped independently, not whole pixels
        whole = changed.all(axis=1).mean()
        assert whole < 0.2 * changed.mean()


@pytest.mark.parametrize("size", [32, 64])
def test_speckle_noise_statistics(size):
    x = _grey(16, 3, size, 0.5)
    x[:, :, : size // 2] = 0.2
    for s in (1, 5):
        sigma = table_for("speckle_noise", size)[s - 1]
        d = (C.corrupt(x, "speckle_noise", s, gen(s)) - x).numpy()
        for value, part in ((0.2, d[:, :, : size // 2]), (0.5, d[:, :, size // 2 :])):
            assert abs(part.mean()) < 4 * value * sigma / np.sqrt(part.size)
            assert part.std() == pytest.approx(value * sigma, rel=0.03)


# ------------------------------------------------------------------ every corruption, all sizes


def _cases():
    for size, ch in ((28, 1), (32, 3), (64, 3)):
        for name in C.CORRUPTIONS:
            if C.applicable(name, ch):
                yield pytest.param(name, size, ch, id=f"{name}-{size}x{ch}")


@pytest.mark.parametrize(("name", "size", "channels"), list(_cases()))
def test_runs_all_severities(name, size, channels):
    if not available(name):
        pytest.skip(f"{name} not implemented yet (part B)")
    x = smooth_images(3, channels, size, seed=size)
    x_copy = x.clone()
    prev = None
    for s in range(1, 6):
        y = C.corrupt(x, name, s, gen(s))
        assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
        assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
        assert prev is None or not torch.equal(y, prev)
        prev = y
    assert torch.equal(x, x_copy)  # input untouched


def test_dtype_preserved_float64_and_half():
    x = smooth_images(2, 3, 32, seed=0)
    assert C.corrupt(x.double(), "gaussian_noise", 3, gen()).dtype == torch.float64
    y = C.corrupt(x.half(), "contrast", 3)
    assert y.dtype == torch.float16
    torch.testing.assert_close(y.float(), C.corrupt(x, "contrast", 3), atol=2e-3, rtol=0)


# ------------------------------------------------------------------------ severity monotonicity


def _mean_l2(x: torch.Tensor, name: str, seed: int = 0) -> list[float]:
    out = []
    for s in range(1, 6):
        y = C.corrupt(x, name, s, gen(seed))
        out.append(float((y - x).flatten(1).norm(dim=1).mean()))
    return out


def _assert_monotone(x: torch.Tensor, channels: int, exempt: set[str]) -> None:
    failures = []
    for name in C.corruptions_for(channels):
        if name in exempt or not available(name):
            continue
        d = _mean_l2(x, name)
        tie = TIES.get((name, table_size(x.shape[2])))
        for s in range(1, 5):
            ok = d[s] >= 0.999 * d[s - 1] if tie == (s, s + 1) else d[s] > d[s - 1]
            if not ok:
                failures.append((name, s, [round(v, 4) for v in d]))
    assert not failures, failures


@pytest.mark.parametrize(("size", "channels"), [(32, 3), (64, 3), (28, 1)])
def test_severity_monotone_random_images(size, channels):
    _assert_monotone(
        smooth_images(12, channels, size, seed=42), channels, NON_MONOTONE | RANDOM_IMAGE_EXEMPT
    )


@pytest.mark.data
def test_severity_monotone_fashion_mnist():
    _assert_monotone(load_fmnist(24), 1, NON_MONOTONE)


def test_saturate_is_not_monotone_as_published():
    d = _mean_l2(smooth_images(8, 3, 32, seed=1), "saturate")
    assert d[1] > d[2]  # severity 2 (S * 0.1) changes more than severity 3 (S * 1.5)


# ----------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("name", sorted(set(C.CORRUPTIONS) - C.DETERMINISTIC))
def test_seeded_reproducible_and_seeds_differ(name):
    if not available(name):
        pytest.skip(f"{name} not implemented yet (part B)")
    x = smooth_images(2, 3, 32, seed=9)
    a = C.corrupt(x, name, 3, gen(123))
    b = C.corrupt(x, name, 3, gen(123))
    c = C.corrupt(x, name, 3, gen(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_generator_state_advances_and_no_global_rng():
    x = smooth_images(2, 3, 32, seed=9)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    g = gen(5)
    a = C.corrupt(x, "gaussian_noise", 2, g)
    b = C.corrupt(x, "gaussian_noise", 2, g)
    assert not torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), before)


# -------------------------------------------------------------------------------- bad inputs


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownName, match="gaussian_noise.*saturate"):
        C.corrupt(smooth_images(1, 3, 32, 0), "gausian_noise", 1, gen())


@pytest.mark.parametrize("severity", [0, 6, -1, 2.0, True, "3"])
def test_bad_severity(severity):
    with pytest.raises(InvalidArgument, match="severity"):
        C.corrupt(smooth_images(1, 3, 32, 0), "contrast", severity)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "float"),
        (np.zeros((1, 3, 32, 32), np.float32), "float"),
        (torch.zeros(3, 32, 32), "shape"),
        (torch.zeros(1, 2, 32, 32), "shape"),
        (torch.zeros(1, 32, 32, 3), "shape"),
        (torch.zeros(1, 3, 16, 32), "28"),
        (torch.full((1, 3, 32, 32), 1.5), r"\[0, 1\]"),
        (torch.full((1, 3, 32, 32), -0.2), r"\[0, 1\]"),
        (torch.full((1, 3, 32, 32), float("nan")), r"\[0, 1\]"),
    ],
)
def test_bad_input(x, match):
    with pytest.raises(InvalidArgument, match=match):
        C.corrupt(x, "contrast", 1)


def test_saturate_on_grey_refused_and_generator_required():
    with pytest.raises(InvalidArgument, match="colour-only"):
        C.corrupt(smooth_images(1, 1, 28, 0), "saturate", 1)
    with pytest.raises(InvalidArgument, match="generator"):
        C.corrupt(smooth_images(1, 3, 32, 0), "shot_noise", 1)
    with pytest.raises(InvalidArgument, match="generator"):
        C.corrupt(smooth_images(1, 3, 32, 0), "shot_noise", 1, generator=0)
    assert issubclass(InvalidArgument, SelrobError)


def test_tiny_tolerance_out_of_range_is_clipped():
    x = smooth_images(1, 3, 32, 0)
    x[0, 0, 0, 0] = 1.0 + 5e-5
    y = C.corrupt(x, "contrast", 1)
    assert y.max() <= 1.0
