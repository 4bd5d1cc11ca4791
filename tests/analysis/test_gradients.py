"""Input-unit gradients vs jacobian and finite differences; variability vs brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from selrob.analysis.gradients import (
    STATISTICS,
    gradient_variability,
    input_unit_gradients,
    variability_from_gradients,
)
from selrob.errors import InvalidArgument
from selrob.models import build_model


def tiny_model(dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    m = build_model("small_cnn", 1, 10, width=0.25)
    for mod in m.modules():  # non-trivial running statistics so that eval vs train matters
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.3, 0.3)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.3)
    return m.to(dtype)


def layer_fn(model: nn.Module, layer: str):  # noqa: ANN201
    """x -> (N, U) spatial means of ``layer``, via a plain hook (independent of selrob.units)."""
    mod = dict(model.named_modules())[layer]

    def f(x: torch.Tensor) -> torch.Tensor:
        box = {}
        h = mod.register_forward_hook(lambda m, i, o: box.__setitem__("o", o))
        try:
            model(x)
        finally:
            h.remove()
        return box["o"].mean((2, 3))

    return f


@pytest.mark.parametrize("layer", ["stem", "block2"])
def test_gradients_equal_autograd_jacobian(layer: str) -> None:
    model = tiny_model().train()  # must be switched to eval inside, then restored
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    g = input_unit_gradients(model, x, layer)
    assert model.training
    model.eval()
    jac = torch.autograd.functional.jacobian(
        layer_fn(model, layer), x, vectorize=True
    )  # (N, U, N, 1, H, W)
    n, u = jac.shape[:2]
    assert g.shape == (u, n, 1, 8, 8)
    for i, j in itertools.product(range(n), range(n)):
        block = jac[i, :, j]
        if i == j:
            torch.testing.assert_close(g[:, i], block, rtol=1e-5, atol=1e-6)
        else:  # eval-mode BatchNorm: samples do not interact
            assert float(block.abs().max()) == 0.0


def test_gradients_match_central_finite_differences_in_float64() -> None:
    model = tiny_model(torch.float64).eval()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    g = input_unit_gradients(model, x, "block1", units=[0, 3, 5])
    f = layer_fn(model, "block1")
    h = 1e-6
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for _ in range(12):
            n, r, c = int(rng.integers(2)), int(rng.integers(8)), int(rng.integers(8))
            e = torch.zeros_like(x)
            e[n, 0, r, c] = h
            fd = (f(x + e)[n] - f(x - e)[n]) / (2 * h)
            torch.testing.assert_close(g[:, n, 0, r, c], fd[[0, 3, 5]], rtol=1e-6, atol=1e-9)


def test_loop_and_vmap_agree() -> None:
    model = tiny_model().eval()
    x = torch.rand(4, 1, 10, 10, generator=torch.Generator().manual_seed(3))
    a = input_unit_gradients(model, x, "block1", method="loop")
    b = input_unit_gradients(model, x, "block1", method="vmap", chunk_size=3)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert not b.requires_grad
    with torch.no_grad():  # callers may hold no_grad; both routes still differentiate
        c = input_unit_gradients(model, x, "block1", method="loop")
        d = input_unit_gradients(model, x, "block1", method="vmap", chunk_size=3)
        assert not torch.is_grad_enabled()
    torch.testing.assert_close(c, a)
    torch.testing.assert_close(d, b)
    assert torch.is_grad_enabled()
    with pytest.raises(InvalidArgument):
        input_unit_gradients(model, x, "block1", method="forward")


def brute_force(g: np.ndarray) -> dict[str, float]:
    """Double loops over pairs, straight from the definitions in the module docstring."""
    u, n = g.shape[:2]
    flat = g.reshape(u, n, -1)
    norm = np.linalg.norm(flat, axis=2)

    def mean_dissim(vecs: np.ndarray) -> float:
        nz = [v for v in vecs if np.linalg.norm(v) > 0]
        pairs = [
            1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
            for i, a in enumerate(nz)
            for j, b in enumerate(nz)
            if i != j
        ]
        return float(np.mean(pairs)) if pairs else math.nan

    def cv(v: np.ndarray) -> float:
        return float(np.std(v) / np.mean(v)) if np.mean(v) > 0 else math.nan

    return {
        "across_samples_dissimilarity": np.nanmean([mean_dissim(flat[k]) for k in range(u)]),
        "across_units_dissimilarity": np.nanmean([mean_dissim(flat[:, i]) for i in range(n)]),
        "across_samples_norm_cv": np.nanmean([cv(norm[k]) for k in range(u)]),
        "across_units_norm_cv": np.nanmean([cv(norm[:, i]) for i in range(n)]),
    }


@pytest.mark.parametrize("batch_size", [None, 3])
def test_variability_statistics_match_brute_force(batch_size: int | None) -> None:
    rng = np.random.default_rng(4)
    g = rng.standard_normal((5, 7, 2, 3)) + 0.5  # (U, N, ...): a shared offset makes cos > 0
    g[1, 2] = 0.0  # a unit inactive at one input
    g[3] = 0.0  # a dead unit: no direction, norm CV undefined
    g[:, 6] = 0.0
    g[0, 6] = 1.0  # sample 6: only one active unit
    got = variability_from_gradients(torch.from_numpy(g), batch_size=batch_size)
    ref = brute_force(g)
    assert set(got) == set(STATISTICS)
    for k in STATISTICS:
        assert got[k] == pytest.approx(ref[k], rel=1e-10), k


def test_identical_gradients_have_zero_variability() -> None:
    g = torch.ones(4, 6, 10)
    stats = variability_from_gradients(g)
    assert all(stats[k] == pytest.approx(0.0, abs=1e-12) for k in STATISTICS)


class Linear(nn.Module):
    """Units = outputs of a linear map, so g_u(x) = W[u] for every x (an analytic oracle)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 5)
        self.unit_layers = ["fc"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("method", ["loop", "vmap"])
def test_linear_model_statistics_are_analytic(method: str) -> None:
    torch.manual_seed(0)
    model = Linear()
    x = torch.rand(9, 1, 3, 4)
    recs = gradient_variability(model, x, method=method, batch_size=4)
    stats = {r["statistic"]: r["value"] for r in recs}
    w = model.fc.weight.detach().double().numpy()
    ref = brute_force(np.repeat(w[:, None, :], 2, axis=1))  # across units: the rows of W
    assert stats["across_samples_dissimilarity"] == pytest.approx(0.0, abs=1e-6)
    assert stats["across_samples_norm_cv"] == pytest.approx(0.0, abs=1e-5)
    assert stats["across_units_dissimilarity"] == pytest.approx(
        ref["across_units_dissimilarity"], rel=1e-5
    )
    assert stats["across_units_norm_cv"] == pytest.approx(ref["across_units_norm_cv"], rel=1e-5)


def test_gradient_variability_equals_stats_of_explicit_gradients() -> None:
    model = tiny_model().train()
    x = torch.rand(10, 1, 10, 10, generator=torch.Generator().manual_seed(5))
    recs = gradient_variability(
        model, x, batch_size=4, max_units=3, generator=torch.Generator().manual_seed(7)
    )
    assert model.training
    assert [r["layer"] for r in recs] == [n for n in model.unit_layers for _ in STATISTICS]
    gen = torch.Generator().manual_seed(7)  # the same draws, layer by layer
    for layer in model.unit_layers:
        n_units = {"stem": 4, "block1": 8, "block2": 16}[layer]
        units = torch.randperm(n_units, generator=gen)[:3].sort().values
        ref = variability_from_gradients(input_unit_gradients(model, x, layer, units=units))
        got = {r["statistic"]: r["value"] for r in recs if r["layer"] == layer}
        for k in STATISTICS:
            assert got[k] == pytest.approx(ref[k], rel=1e-5, abs=1e-7), (layer, k)
