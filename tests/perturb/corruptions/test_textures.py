"""The procedural textures: the plasma fractal against a numpy diamond-square oracle, frost's
synthetic texture by its documented properties.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.images import (
    gen,
)
from helpers.oracles import roughness

from selrob.errors import InvalidArgument
from selrob.perturb.corruptions import (
    _textures,
)


def test_plasma_range_size_and_smoothness() -> None:
    p = _textures.plasma_fractal(20, 32, 3.0, gen(0)).numpy()
    assert p.shape == (20, 32, 32)
    np.testing.assert_allclose(p.min(axis=(1, 2)), 0.0)
    np.testing.assert_allclose(p.max(axis=(1, 2)), 1.0)
    rough = _textures.plasma_fractal(20, 32, 1.5, gen(0)).numpy()
    assert roughness(rough) > 1.5 * roughness(p)
    with pytest.raises(InvalidArgument):
        _textures.plasma_fractal(1, 48, 2.0, gen(0))


def test_frost_texture_deterministic_per_seed_and_plausible() -> None:
    a, b, other = (
        _textures.frost_texture(64, 3),
        _textures.frost_texture(64, 3),
        _textures.frost_texture(64, 4),
    )
    assert a.shape == (3, 64, 64) and torch.equal(a, b) and not torch.equal(a, other)
    assert a.min() >= 0 and a.max() <= 1
    bank = _textures.frost_bank(0.2)
    assert bank.shape == (
        5,
        3,
        round(_textures.FROST_BASE_SIZE * 0.2),
        round(_textures.FROST_BASE_SIZE * 0.2),
    )
    assert 0.3 < float(bank.mean()) < 0.6 and float(bank.std()) > 0.08
    r, g, b_ = bank.mean(dim=(0, 2, 3)).tolist()
    assert r < g < b_  # pale blue-white
