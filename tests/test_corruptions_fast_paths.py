"""The speed-only code paths of the corruptions equal the plain ones they replace."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from selrob.perturb import _digital, _geometric
from selrob.perturb import corruptions as C
from selrob.perturb.corruption_tables import table_for


def _images(n: int, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n, c, 8, 8, generator=g)
    return torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear")


@pytest.mark.parametrize("name", sorted(C.DETERMINISTIC))
def test_chunked_corrupt_equals_one_call(monkeypatch, name):
    x = _images(7)
    fn = C.implementation(name, 32)
    want = fn(x, table_for(name, 32)[2], None).clamp(0, 1)
    monkeypatch.setattr(C, "_CHUNK_VALUES", 2 * 3 * 32 * 32)  # chunks of 2 images
    torch.testing.assert_close(C.corrupt(x, name, 3), want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["shot_noise", "glass_blur", "spatter", "snow"])
def test_chunked_random_corrupt_is_reproducible(monkeypatch, name):
    x = _images(1).expand(5, -1, -1, -1).contiguous()  # one image, five times
    monkeypatch.setattr(C, "_CHUNK_VALUES", 2 * 3 * 32 * 32)
    a = C.corrupt(x, name, 4, torch.Generator().manual_seed(3))
    b = C.corrupt(x, name, 4, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(a[:2], a[2:4])  # the second chunk draws fresh noise


@pytest.mark.parametrize("size", [28, 32])
def test_zoom_blur_sparse_equals_dense(size):
    x = _images(4, 3, size, seed=2).double()
    factors = tuple(_geometric.zoom_factors(1.26, 0.01))
    dense = _geometric._zoom_blur_operator(size, size, factors)
    want = (x.reshape(-1, size * size) @ dense.T).reshape(x.shape).clamp(0, 1)
    got = _geometric.zoom_blur(x, (1.26, 0.01))
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("quality", [1, 10, 20, 50, 95])
def test_direct_jpeg_encoder_gives_saves_bytes(mode, quality):
    rng = np.random.default_rng(quality)
    shape = (32, 32, 3) if mode == "RGB" else (28, 28)
    config = _digital._jpeg_config(mode, quality)
    assert config is not None  # the fast path is in use with this Pillow
    for _ in range(3):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        buf = io.BytesIO()
        kw = {"subsampling": "4:2:0"} if mode == "RGB" else {}
        Image.fromarray(img).save(buf, "JPEG", quality=quality, **kw)
        assert _digital._encode_jpeg(_digital._pil(img), config) == buf.getvalue()


def test_jpeg_fallback_without_direct_encoder(monkeypatch):
    x = _images(3)
    want = C.corrupt(x, "jpeg_compression", 5)
    monkeypatch.setattr(_digital, "_jpeg_config", lambda mode, quality: None)
    assert torch.equal(C.corrupt(x, "jpeg_compression", 5), want)


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid:UserWarning")
@pytest.mark.parametrize(("h", "w"), [(32, 32), (28, 28), (64, 48), (1, 5)])
def test_affine_grid_equals_torch(h, w):
    theta = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(h), dtype=torch.float64)
    want = torch.nn.functional.affine_grid(theta, [4, 3, h, w], align_corners=True)
    torch.testing.assert_close(_geometric._affine_grid(theta, h, w), want, atol=1e-12, rtol=0)


def test_split_poisson_ignores_thread_count_and_has_poisson_moments():
    from selrob.perturb import _noise

    rates = torch.full((1 << 19,), 7.5)  # above the split threshold
    before = torch.get_num_threads()
    try:
        draws = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            draws.append(_noise._poisson(rates, torch.Generator().manual_seed(1)))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(draws[0], draws[1])
    k = draws[0].double()
    assert abs(k.mean().item() - 7.5) < 0.03 and abs(k.var().item() - 7.5) < 0.1
    assert torch.equal(k, k.round()) and k.min() >= 0
    pieces = k.chunk(_noise._POISSON_PARTS)
    assert not torch.equal(pieces[0], pieces[1])  # each piece has its own stream
