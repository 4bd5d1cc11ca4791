"""Weather corruptions: formulas checked where the randomness can be held fixed, statistics and
invariants where it cannot (fog's plasma against a numpy diamond-square oracle).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.images import (
    FMNIST,
    fmnist_like,
    gen,
    load_fmnist,
    mean_change,
    rand_images,
    smooth_images,
)
from helpers.oracles import numpy_plasma, roughness

from selrob.perturb import corruptions as C
from selrob.perturb.corruptions import (
    weather,
)
from selrob.perturb.corruptions.tables import table_for


def test_brightness_grey_adds_and_clips():
    x = load_fmnist(8) if (FMNIST / "t10k-images-idx3-ubyte.gz").exists() else None
    if x is None:
        x = smooth_images(8, 1, 28, seed=3)
    for s in range(1, 6):
        c = table_for("brightness", 28)[s - 1]
        np.testing.assert_allclose(
            C.corrupt(x, "brightness", s).numpy(), np.clip(x.numpy() + c, 0, 1), atol=1e-6
        )


@pytest.mark.parametrize("decay", [3.0, 1.75])
def test_fog_adds_a_plasma_field_with_the_oracles_statistics(decay: float) -> None:
    c, n = 0.75, 96
    x = torch.full((n, 3, 32, 32), 0.5, dtype=torch.float64)
    y = weather.fog(x, (c, decay, 32), gen(1))
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
    torch.testing.assert_close(weather.fog(x, (0.0, 2.0, 32), gen(0)), x)
    y = weather.fog(rand_images(2, 3, 64), (0.4, 3.0, 32), gen(0))  # map grows to 64
    assert y.shape == (2, 3, 64, 64)


@pytest.mark.parametrize("c", [1, 3])
def test_snow_blend_without_flakes_matches_formula(c: int) -> None:
    x = rand_images(3, c, 32)
    mix = 0.85
    y = weather.snow(x, (0.1, 0.2, 1.0, 2.0, 8, 3.0, mix), gen(0))  # threshold 2: no snow layer
    xn = x.numpy()
    grey = xn if c == 1 else (0.299 * xn[:, :1] + 0.587 * xn[:, 1:2] + 0.114 * xn[:, 2:])
    ref = np.clip(mix * xn + (1 - mix) * np.maximum(xn, grey * 1.5 + 0.5), 0, 1)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-6)


def test_snow_layer_is_symmetric_under_half_turn() -> None:
    x = torch.zeros(4, 1, 32, 32, dtype=torch.float64)
    y = weather.snow(x, table_for("snow", 32)[3], gen(2))
    torch.testing.assert_close(y, y.flip(2, 3))
    assert (y > 0.5 * (1 - 0.85) + 1e-6).any()  # some flakes above the blended background


@pytest.mark.parametrize("make", [lambda: rand_images(16, 3, 32), lambda: fmnist_like(16)])
def test_snow_change_grows_with_severity(make) -> None:
    change = mean_change("snow", make())
    assert all(a < b for a, b in zip(change, change[1:], strict=False)), change


def test_frost_formula_bounds_and_grey() -> None:
    x = fmnist_like(6)
    torch.testing.assert_close(weather.frost(x, (1.0, 0.0, 0.2), gen(0)), x)
    y = weather.frost(x, (0.9, 0.4, 0.2), gen(1))
    assert (y >= 0.9 * x - 1e-6).all() and (y <= 0.9 * x + 0.4 + 1e-6).all()
    assert not torch.equal(y[0], y[1])  # different crops or textures per image


@pytest.mark.parametrize("make", [lambda: rand_images(16, 3, 32), lambda: fmnist_like(16)])
def test_frost_hides_the_image_more_with_severity(make) -> None:
    # The image weight falls and the frost weight rises, so the image's share of the output
    # falls; mean |change| is not monotone (darkening cancels frost on mid-grey pixels).
    x = make()
    corr = []
    for s, row in enumerate(table_for("frost", x.shape[-1])):
        y = weather.frost(x, row, gen(20 + s))
        corr.append(float(np.corrcoef(x.flatten().numpy(), y.flatten().numpy())[0, 1]))
    assert all(a > b for a, b in zip(corr, corr[1:], strict=False)), corr


@pytest.mark.parametrize("mud", [0, 1])
def test_spatter_without_liquid_is_identity(mud: int) -> None:
    x = rand_images(2, 3, 32)
    torch.testing.assert_close(weather.spatter(x, (0.65, 0.1, 0.7, 2.0, 0.6, mud), gen(0)), x)


def test_spatter_colours_and_grey_equivalents() -> None:
    x = torch.zeros(6, 3, 32, 32)
    water = weather.spatter(x, table_for("spatter", 32)[2], gen(1))
    ratio = water[:, 0] / water[:, 1].clamp_min(1e-9)
    wet = water[:, 1] > 0.01
    assert wet.any()
    torch.testing.assert_close(ratio[wet], torch.full_like(ratio[wet], 175 / 238))
    mud = weather.spatter(torch.ones(6, 3, 32, 32), table_for("spatter", 32)[3], gen(2))
    dirty = mud[:, 0] < 0.999
    assert dirty.any()
    drop = 1 - mud[:, :, dirty.any(0)]  # x (1 - m) + brown m: drop proportional to 1 - brown
    r, g, b = (drop[:, i].sum() for i in range(3))
    assert float(g / r) == pytest.approx((255 - 42) / (255 - 63), rel=1e-4)
    assert float(b / r) == pytest.approx((255 - 20) / (255 - 63), rel=1e-4)
    grey = weather.spatter(torch.zeros(6, 1, 32, 32), table_for("spatter", 32)[2], gen(1))
    grey_level = (0.299 * 175 + 0.587 * 238 + 0.114 * 238) / 255
    torch.testing.assert_close(grey[:, 0], water[:, 1] * grey_level / (238 / 255))


@pytest.mark.parametrize("make", [lambda: rand_images(16, 3, 32), lambda: fmnist_like(16)])
def test_spatter_change_grows_within_each_branch(make) -> None:
    # Severities 1-3 are water, 4-5 mud; at 32/28 px water severity 3 changes the image more
    # than mud severity 4 (the published parameters), so monotonicity holds within branches.
    change = mean_change("spatter", make())
    assert change[0] < change[1] < change[2] and change[3] < change[4], change
