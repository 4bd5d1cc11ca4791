"""Selectivity index vs an independent numpy computation, a hand-worked example, properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selrob.selectivity import (
    SelectivityAccumulator,
    class_means,
    layer_selectivity,
    network_selectivity,
    regularized_loss,
    selectivity_index,
)


def numpy_si(means: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Per unit, loop form of the paper's formula (shares nothing with the torch code)."""
    out = []
    for u in range(means.shape[1]):
        col = list(means[:, u])
        k = int(np.argmax(col))
        mx = col.pop(k)
        rest = sum(col) / len(col)
        out.append((mx - rest) / (mx + rest + eps))
    return np.array(out)


def test_matches_numpy_on_random_means() -> None:
    rng = np.random.default_rng(0)
    means = rng.exponential(size=(10, 37))
    got = selectivity_index(torch.tensor(means)).numpy()
    np.testing.assert_allclose(got, numpy_si(means), rtol=1e-10)


def test_hand_worked_example() -> None:
    # unit 0: means (4, 1, 1) -> mu_max 4, mu_-max 1 -> (4-1)/(4+1) = 0.6
    # unit 1: means (0, 0, 2) -> 2, 0 -> 1.0 ; unit 2: (3, 3, 3) -> 0 ; unit 3: dead -> 0
    means = torch.tensor([[4.0, 0.0, 3.0, 0.0], [1.0, 0.0, 3.0, 0.0], [1.0, 2.0, 3.0, 0.0]])
    torch.testing.assert_close(
        selectivity_index(means), torch.tensor([0.6, 1.0, 0.0, 0.0]), atol=1e-6, rtol=0
    )


def test_properties() -> None:
    g = torch.Generator().manual_seed(1)
    si = selectivity_index(torch.rand(10, 500, generator=g) ** 4)
    assert bool((si >= 0).all()) and bool((si <= 1).all())


def test_class_means_one_op_and_absent_classes() -> None:
    acts = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]])
    y = torch.tensor([0, 0, 2])
    means, present = class_means(acts, y, 4)
    torch.testing.assert_close(
        means, torch.tensor([[2.0, 3.0], [0.0, 0.0], [10.0, 0.0], [0.0, 0.0]])
    )
    assert present.tolist() == [True, False, True, False]
    # absent classes are left out: only classes 0 and 2 count
    si = selectivity_index(means, present)
    expected = numpy_si(np.array([[2.0, 3.0], [10.0, 0.0]]))
    np.testing.assert_allclose(si.numpy(), expected, rtol=1e-6)


def test_single_class_batch_gives_zero() -> None:
    means, present = class_means(torch.rand(5, 3), torch.zeros(5, dtype=torch.long), 10)
    assert selectivity_index(means, present).tolist() == [0.0, 0.0, 0.0]


def test_network_mean_of_layer_means_and_accumulator_matches_batch() -> None:
    g = torch.Generator().manual_seed(2)
    acts = {"a": torch.rand(200, 8, generator=g), "b": torch.rand(200, 3, generator=g) ** 3}
    y = torch.randint(0, 10, (200,), generator=g)
    per = layer_selectivity(acts, y, 10)
    expected_net = np.mean(
        [numpy_si(_np_means(a.numpy(), y.numpy())).mean() for a in acts.values()]
    )
    assert float(network_selectivity(per)) == pytest.approx(expected_net, rel=1e-6)
    acc = SelectivityAccumulator(10)
    for s in range(0, 200, 64):  # uneven batches
        acc.update({k: v[s : s + 64] for k, v in acts.items()}, y[s : s + 64])
    net, layers = acc.summary()
    assert net == pytest.approx(expected_net, rel=1e-6)
    assert layers["a"] == pytest.approx(float(per["a"]), rel=1e-6)


def _np_means(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([a[y == c].mean(0) for c in np.unique(y)])


def test_regulariser_gradient_sign() -> None:
    """alpha > 0 rewards selectivity: a gradient step on the loss raises SI; alpha < 0 lowers it."""
    g = torch.Generator().manual_seed(3)
    y = torch.arange(10).repeat(5)
    for alpha, direction in ((5.0, 1), (-5.0, -1)):
        acts = (torch.rand(50, 6, generator=g) + 0.1).requires_grad_(True)
        logits = torch.zeros(50, 10)
        loss, _, si, _ = regularized_loss(logits, y, {"l": acts}, alpha)
        (grad,) = torch.autograd.grad(loss, acts)
        with torch.no_grad():
            _, _, si2, _ = regularized_loss(logits, y, {"l": acts - 0.01 * grad}, alpha)
        assert direction * (float(si2) - float(si.detach())) > 0


def test_alpha_zero_is_plain_ce() -> None:
    logits = torch.randn(8, 10, requires_grad=True)
    y = torch.randint(0, 10, (8,))
    acts = torch.rand(8, 4, requires_grad=True)
    loss, ce, _, _ = regularized_loss(logits, y, {"l": acts}, 0.0)
    assert float(loss.detach()) == float(torch.nn.functional.cross_entropy(logits, y).detach())
    assert loss.grad_fn is not None and acts.grad is None
    loss.backward()
    assert acts.grad is None  # the selectivity term is detached at alpha = 0
