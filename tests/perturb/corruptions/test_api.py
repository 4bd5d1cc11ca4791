"""The corruption API: names and registry, the implementation contract over the whole registry,
reproducibility, chunking, and bad input.

Contract tests are parametrised over the registry (timm style), so a corruption is tested the
moment it is registered; oracles for each family live in test_<family>.py.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from helpers.images import (
    FMNIST,
    coarse_images,
    gen,
    mean_change,
    rand_images,
    smooth_images,
    smoothed_noise,
)

from selrob.errors import InvalidArgument, SelrobError, UnknownName
from selrob.perturb import corruptions as C
from selrob.perturb.corruptions import (
    blur,
    digital,
    noise,
    weather,
)
from selrob.perturb.corruptions._registry import IMPLEMENTATIONS
from selrob.perturb.corruptions.tables import TABLES, table_for


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


def test_registry_covers_every_corruption_once_by_family():
    assert sorted(IMPLEMENTATIONS.names()) == sorted(C.CORRUPTIONS)
    families = [n for names in C.FAMILIES.values() for n in names]
    assert sorted(families) == sorted(C.CORRUPTIONS) and len(families) == len(set(families))
    assert (
        C.FAMILIES["extra"] == C.EXTRA
        and sum(len(v) for k, v in C.FAMILIES.items() if k != "extra") == 15
    )
    for family, names in C.FAMILIES.items():
        if family != "extra":  # each family's module holds its own corruptions
            module = {"noise": noise, "blur": blur, "weather": weather, "digital": digital}[family]
            assert all(getattr(module, n) is IMPLEMENTATIONS.get(n) for n in names)


def test_resolve_corruptions_expands_all_and_names_unknown_ones():
    assert C.resolve_corruptions(["all"], 1) == C.corruptions_for(1)
    assert C.resolve_corruptions([], 3) == []
    assert C.resolve_corruptions(["fog", "snow"], 3) == ["fog", "snow"]
    with pytest.raises(InvalidArgument, match="fogg.*choose from: all, gaussian_noise"):
        C.resolve_corruptions(["fogg"], 3)


def _cases():
    for size, ch in ((28, 1), (32, 3), (64, 3)):
        for name in C.CORRUPTIONS:
            if C.applicable(name, ch):
                yield pytest.param(name, size, ch, id=f"{name}-{size}x{ch}")


@pytest.mark.parametrize(("name", "size", "channels"), list(_cases()))
def test_runs_all_severities(name, size, channels):
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


@pytest.mark.parametrize("name", sorted(set(C.CORRUPTIONS) - C.DETERMINISTIC))
def test_seeded_reproducible_and_seeds_differ(name):
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


FNS = {name: IMPLEMENTATIONS.get(name) for name in IMPLEMENTATIONS.names()}
"""Every registered implementation: the contract tests below run over the whole registry."""
RANDOM = sorted(set(FNS) - C.DETERMINISTIC)


def _impl(name: str, size: int):  # noqa: ANN202 - the implementation at this image size
    return C.implementation(name, size)


def _contract_cases():
    for name in sorted(FNS):
        for c, size in ((1, 28), (3, 32)):
            if C.applicable(name, c):
                yield pytest.param(name, c, size, id=f"{name}-{c}x{size}")


@pytest.mark.parametrize(("name", "c", "size"), list(_contract_cases()))
def test_shape_range_dtype_all_severities(name: str, c: int, size: int) -> None:
    x = rand_images(4, c, size)
    before = x.clone()
    for sev, row in enumerate(table_for(name, size), 1):
        y = _impl(name, size)(x, row, gen(sev))
        assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
        assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    assert torch.equal(x, before), "input was modified"


@pytest.mark.parametrize("name", sorted(FNS))
def test_larger_sizes_and_float64(name: str) -> None:
    for size, n, sevs in ((64, 2, (1, 5)), (224, 1, (5,))):
        x = smoothed_noise(n, 3, size).double()
        for sev in sevs:
            y = _impl(name, size)(x, table_for(name, size)[sev - 1], gen(sev))
            assert y.shape == x.shape and y.dtype == torch.float64
            assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("name", RANDOM)
def test_seeded_reproducible_and_seed_dependent(name: str) -> None:
    x = smoothed_noise(4, 3, 32)
    row = table_for(name, 32)[2]
    a, b, other = (FNS[name](x, row, gen(s)) for s in (11, 11, 12))
    assert torch.equal(a, b)
    assert not torch.equal(a, other)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(FNS))
def test_cuda_input_cpu_generator_matches_cpu(name: str) -> None:
    x = smoothed_noise(3, 3, 32)
    row = table_for(name, 32)[3]
    y = FNS[name](x.cuda(), row, gen(5))
    assert y.is_cuda
    torch.testing.assert_close(y.cpu(), FNS[name](x, row, gen(5)), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", sorted(C.DETERMINISTIC))
def test_chunked_corrupt_equals_one_call(monkeypatch, name):
    x = coarse_images(7)
    fn = C.implementation(name, 32)
    want = fn(x, table_for(name, 32)[2], None).clamp(0, 1)
    monkeypatch.setattr(C, "_CHUNK_VALUES", 2 * 3 * 32 * 32)  # chunks of 2 images
    torch.testing.assert_close(C.corrupt(x, name, 3), want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["shot_noise", "glass_blur", "spatter", "snow"])
def test_chunked_random_corrupt_is_reproducible(monkeypatch, name):
    x = coarse_images(1).expand(5, -1, -1, -1).contiguous()  # one image, five times
    monkeypatch.setattr(C, "_CHUNK_VALUES", 2 * 3 * 32 * 32)
    a = C.corrupt(x, name, 4, torch.Generator().manual_seed(3))
    b = C.corrupt(x, name, 4, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(a[:2], a[2:4])  # the second chunk draws fresh noise


FMNIST_TEST = FMNIST / "t10k-images-idx3-ubyte.gz"


@pytest.mark.data
@pytest.mark.skipif(not FMNIST_TEST.exists(), reason=f"no Fashion-MNIST at {FMNIST_TEST}")
def test_on_real_fashion_mnist() -> None:
    with gzip.open(FMNIST_TEST) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16)[: 16 * 784]
    x = torch.from_numpy(raw.reshape(16, 1, 28, 28).astype(np.float32) / 255)
    snow = mean_change("snow", x)
    assert all(a < b for a, b in zip(snow, snow[1:], strict=False)), snow
    spat = mean_change("spatter", x)
    assert spat[0] < spat[1] < spat[2] and spat[3] < spat[4], spat
    for name in C.corruptions_for(1):
        for row in table_for(name, 28):
            y = FNS[name](x, row, gen(0))
            assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
