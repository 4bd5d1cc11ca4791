"""SelectivityRegularizer on a model selrob did not define: plain CE at alpha 0, the term of
``selrob train`` and of a numpy oracle otherwise, clear errors, and the README's example."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from selrob.errors import InvalidArgument
from selrob.regularizer import SelectivityRegularizer
from selrob.selectivity import regularized_loss
from selrob.units import UnitRecorder


class UserNet(nn.Module):
    """A user's own network: no ``unit_layers``, ReLU modules named by position."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1), nn.ReLU()
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(12 * 8 * 8, 16), nn.ReLU(),
                                  nn.Linear(16, 5))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


UNITS = "features.1,features.3,head.2"


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(40, 1, 8, 8, generator=g), torch.randint(0, 5, (40,), generator=g)


def _net() -> UserNet:
    torch.manual_seed(0)
    return UserNet()


def _grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def numpy_mu_si(acts: list[np.ndarray], labels: np.ndarray, eps: float = 1e-7) -> float:
    """Mean over layers of the mean over units of SI, from class means by a loop over classes."""
    layer_means = []
    for a in acts:
        classes = sorted(set(labels.tolist()))
        means = np.stack([a[labels == c].mean(0) for c in classes])  # (C present, U)
        si = []
        for u in range(means.shape[1]):
            col = sorted(means[:, u], reverse=True)
            mx, rest = col[0], float(np.mean(col[1:]))
            si.append((mx - rest) / (mx + rest + eps))
        layer_means.append(np.mean(si))
    return float(np.mean(layer_means))


def test_alpha_zero_gives_the_gradients_of_plain_cross_entropy() -> None:
    x, y = _batch()
    a, b = _net(), _net()
    with SelectivityRegularizer(a, UNITS) as reg:
        (nn.functional.cross_entropy(a(x), y) - 0.0 * reg(y)).backward()
    nn.functional.cross_entropy(b(x), y).backward()
    for ga, gb in zip(_grads(a), _grads(b), strict=True):
        torch.testing.assert_close(ga, gb, rtol=0, atol=0)


@pytest.mark.parametrize("alpha", [-2.0, 1.5])
def test_the_term_is_selrob_trains_and_the_numpy_oracles(alpha: float) -> None:
    x, y = _batch(1)
    ours, theirs = _net(), _net()
    with SelectivityRegularizer(ours, UNITS) as reg:
        logits = ours(x)
        term = reg(y)
        (nn.functional.cross_entropy(logits, y) - alpha * term).backward()
    # what selrob train computes on the same batch (UnitRecorder + regularized_loss)
    with UnitRecorder(theirs, UNITS) as rec:
        loss, _, si, _ = regularized_loss(theirs(x), y, rec.acts, alpha)
    loss.backward()
    torch.testing.assert_close(term, si)
    for ga, gb in zip(_grads(ours), _grads(theirs), strict=True):
        torch.testing.assert_close(ga, gb)
    # an independent computation: activations taken by our own hooks, SI in numpy
    acts: list[np.ndarray] = []
    mods = dict(theirs.named_modules())
    hooks = [mods[n].register_forward_hook(
        lambda _m, _i, o: acts.append((o.mean((2, 3)) if o.dim() == 4 else o).detach().numpy()))
        for n in UNITS.split(",")]  # fmt: skip
    with torch.no_grad():  # no optimiser step was taken: the weights are still ours
        theirs(x)
    for h in hooks:
        h.remove()
    value = float(term.detach())
    assert value == pytest.approx(numpy_mu_si(acts, y.numpy()), rel=1e-5)
    assert 0.0 < value < 1.0  # a real selectivity, not a trivial zero


def test_the_hooks_leave_with_the_regulariser() -> None:
    model = _net()
    x, y = _batch()
    before = copy.deepcopy(model.state_dict())
    reg = SelectivityRegularizer(model, UNITS)
    assert reg.layers == UNITS.split(",")
    model(x)
    reg(y)
    reg.remove()
    assert all(not m._forward_hooks for m in model.modules())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_clear_errors() -> None:
    model = _net()
    with pytest.raises(InvalidArgument, match="has no unit_layers"):
        SelectivityRegularizer(model)
    with pytest.raises(InvalidArgument, match="matches units pattern"):
        SelectivityRegularizer(model, "layer*")
    with SelectivityRegularizer(model, UNITS) as reg:
        with pytest.raises(InvalidArgument, match="after a forward pass"):
            reg(torch.zeros(3, dtype=torch.long))
        model(_batch()[0])
        with pytest.raises(InvalidArgument, match="labels have shape"):
            reg(torch.zeros(3, dtype=torch.long))


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"<!-- example: regularizer -->\n```python\n(.*?)```", readme, re.S)
    assert block, "README lost its regulariser example"
    scope: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert scope["losses"][-1] < scope["losses"][0]
