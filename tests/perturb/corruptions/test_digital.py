"""Digital corruptions against Pillow, matplotlib's HSV and scipy re-derivations."""

from __future__ import annotations

import io

import matplotlib.colors as mcolors
import numpy as np
import pytest
import torch
from helpers.images import (
    coarse_images,
    gen,
    mean_change,
    rand_images,
    smooth_images,
    smoothed_noise,
    to_hwc,
)
from PIL import Image

from selrob.perturb import corruptions as C
from selrob.perturb.corruptions import (
    digital,
)
from selrob.perturb.corruptions.tables import table_for


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


def test_elastic_identity_without_jitter_or_field() -> None:
    x = rand_images(3, 3, 32).double()
    torch.testing.assert_close(digital.elastic_transform(x, (0.0, 0.0, 0.0), gen(0)), x)
    torch.testing.assert_close(digital.elastic_transform(x, (0.0, 3.0, 0.0), gen(0)), x)


def test_elastic_severity_one_moves_more_than_five_at_32px() -> None:
    # Documented exemption from monotonicity: at 32 px severity 1 is a pure affine jitter of
    # up to 2.56 px, severity 5 a jitter of 0.96 px plus a weak elastic field.
    change = mean_change("elastic_transform", smoothed_noise(16, 3, 32))
    assert change[0] > change[4]


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("quality", [1, 10, 20, 50, 95])
def test_direct_jpeg_encoder_gives_saves_bytes(mode, quality):
    rng = np.random.default_rng(quality)
    shape = (32, 32, 3) if mode == "RGB" else (28, 28)
    config = digital._jpeg_config(mode, quality)
    assert config is not None  # the fast path is in use with this Pillow
    for _ in range(3):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        buf = io.BytesIO()
        kw = {"subsampling": "4:2:0"} if mode == "RGB" else {}
        Image.fromarray(img).save(buf, "JPEG", quality=quality, **kw)
        assert digital._encode_jpeg(digital._pil(img), config) == buf.getvalue()


def test_jpeg_fallback_without_direct_encoder(monkeypatch):
    x = coarse_images(3)
    want = C.corrupt(x, "jpeg_compression", 5)
    monkeypatch.setattr(digital, "_jpeg_config", lambda mode, quality: None)
    assert torch.equal(C.corrupt(x, "jpeg_compression", 5), want)
