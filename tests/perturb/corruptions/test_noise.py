"""Noise corruptions against their distributions (moments of the published noise models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.images import (
    gen,
    grey,
)

from selrob.perturb import corruptions as C
from selrob.perturb.corruptions import (
    noise,
)
from selrob.perturb.corruptions.tables import table_for


@pytest.mark.parametrize("size", [32, 64])
def test_gaussian_noise_statistics(size):
    x = grey(16, 3, size, 0.5)
    for s in (1, 5):
        sigma = table_for("gaussian_noise", size)[s - 1]
        d = (C.corrupt(x, "gaussian_noise", s, gen(s)) - x).numpy()
        assert abs(d.mean()) < 4 * sigma / np.sqrt(d.size)
        assert d.std() == pytest.approx(sigma, rel=0.02)


@pytest.mark.parametrize("size", [32, 64])
def test_shot_noise_statistics(size):
    x = grey(16, 3, size, 0.5)
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
    x = grey(16, 3, size, 0.5)
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
    x = grey(16, 3, size, 0.5)
    x[:, :, : size // 2] = 0.2
    for s in (1, 5):
        sigma = table_for("speckle_noise", size)[s - 1]
        d = (C.corrupt(x, "speckle_noise", s, gen(s)) - x).numpy()
        for value, part in ((0.2, d[:, :, : size // 2]), (0.5, d[:, :, size // 2 :])):
            assert abs(part.mean()) < 4 * value * sigma / np.sqrt(part.size)
            assert part.std() == pytest.approx(value * sigma, rel=0.03)


def test_split_poisson_ignores_thread_count_and_has_poisson_moments():
    rates = torch.full((1 << 19,), 7.5)  # above the split threshold
    before = torch.get_num_threads()
    try:
        draws = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            draws.append(noise._poisson(rates, torch.Generator().manual_seed(1)))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(draws[0], draws[1])
    k = draws[0].double()
    assert abs(k.mean().item() - 7.5) < 0.03 and abs(k.var().item() - 7.5) < 0.1
    assert torch.equal(k, k.round()) and k.min() >= 0
    pieces = k.chunk(noise._POISSON_PARTS)
    assert not torch.equal(pieces[0], pieces[1])  # each piece has its own stream
