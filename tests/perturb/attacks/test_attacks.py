"""Invariants of every attack under every norm (parametrised over the ATTACKS and BALLS
registries), the model left as it was, and bad input.
"""

from __future__ import annotations

import copy

import pytest
import torch
from helpers.models import EPS, accuracy_of
from torch import nn

from selrob.analysis.adversarial_robustness import adversarial_accuracy
from selrob.errors import InvalidArgument, UnknownName
from selrob.perturb.attacks import (
    ATTACKS,
    BALLS,
    LinfBall,
    attack,
    fgsm,
    pgd,
)


@pytest.mark.parametrize("name", ATTACKS.names())
@pytest.mark.parametrize("norm", BALLS.names())
def test_within_ball_and_box(model, data, name, norm):
    x, y = data[2][:200], data[3][:200]
    epsilons = [0.0, EPS[norm] / 4, EPS[norm], 4 * EPS[norm]]
    out = attack(
        model, x, y, name, epsilons, norm=norm, steps=5, generator=torch.Generator().manual_seed(0)
    )
    assert list(out) == epsilons
    ball = BALLS.get(norm)
    for eps, adv in out.items():
        assert adv.shape == x.shape and adv.dtype == x.dtype
        assert adv.min() >= 0 and adv.max() <= 1
        assert ball.norm(adv - x).max() <= eps + 1e-6
    assert torch.equal(out[0.0], x)


@pytest.mark.parametrize("name", ATTACKS.names())
@pytest.mark.parametrize("norm", BALLS.names())
def test_accuracy_falls_with_epsilon(model, data, name, norm):
    """Clean accuracy at eps 0; accuracy non-increasing in eps (1 pp slack for FGSM)."""
    x, y = data[2][:400], data[3][:400]
    epsilons = [0.0, EPS[norm] / 2, EPS[norm], 2 * EPS[norm], 4 * EPS[norm]]
    records = adversarial_accuracy(model, (x, y), name, epsilons, norm, steps=5, batch_size=150)
    accs = [r["accuracy"] for r in records]
    assert accs[0] == pytest.approx(accuracy_of(model, x, y))
    assert all(b <= a + 0.01 for a, b in zip(accs, accs[1:], strict=False))
    assert accs[-1] < accs[0] - 0.3


def test_no_parameter_grads_and_training_mode_restored(model, data):
    x, y = data[2][:50], data[3][:50]
    model.zero_grad(set_to_none=True)  # foolbox (above) does accumulate parameter grads
    model.train()
    model.drop.eval()  # a mixed state must come back as it was
    try:
        fgsm(model, x, y, 0.05, norm="l2")
        pgd(model, x, y, 0.05, 2, restarts=2)
        adversarial_accuracy(model, (x, y), "pgd", [0, 0.05], steps=2)
        assert model.training and not model.drop.training
        assert all(p.grad is None for p in model.parameters())
    finally:
        model.eval()


def test_training_mode_restored_on_exception():
    class Broken(nn.Module):
        def forward(self, x):
            assert not self.training
            raise RuntimeError("boom")

    net = Broken().train()
    with pytest.raises(RuntimeError, match="boom"):
        pgd(net, torch.rand(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), 0.1, 2)
    assert net.training


def test_model_left_untouched(model, data):
    """PGD runs on a frozen, BN-folded, channels_last copy; the caller's model must not change."""
    x, y = data[2][:50], data[3][:50]
    before = {k: (v.clone(), v.stride()) for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    pgd(model, x, y, 0.05, 2)
    after = model.state_dict()
    assert all(
        torch.equal(after[k], v) and after[k].stride() == st for k, (v, st) in before.items()
    )
    assert [p.requires_grad for p in model.parameters()] == flags


def test_untraceable_and_uncopyable_models_still_attacked():
    """Data-dependent control flow defeats torch.fx; a cached non-leaf tensor defeats deepcopy."""

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            h = self.bn(self.conv(x))
            h = h.relu() if h.sum() > 0 else h.abs()
            self.cache = h  # a non-leaf tensor attribute: deepcopy raises
            return self.fc(h.mean((2, 3)))

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = Branchy().eval()
    x, y = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    adv = pgd(net, x, y, 0.1, 3)  # untraceable: attacked through an unfolded copy
    assert LinfBall().norm(adv - x).max() <= 0.1 + 1e-6 and not torch.equal(adv, x)
    net(x)  # caches a non-leaf tensor on the module itself
    with pytest.raises(RuntimeError):
        copy.deepcopy(net)
    adv2 = pgd(net, x, y, 0.1, 3)  # uncopyable: attacked directly
    torch.testing.assert_close(adv2, adv, atol=1e-5, rtol=0)
    assert all(p.grad is None for p in net.parameters())  # also on the direct path


def _bad_calls():
    x, y = torch.rand(4, 1, 4, 4), torch.zeros(4, dtype=torch.long)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    return [
        (InvalidArgument, lambda: fgsm(net, x, y, -0.1)),
        (InvalidArgument, lambda: fgsm(net, x, y, float("nan"))),
        (InvalidArgument, lambda: pgd(net, x, y, float("inf"))),
        (InvalidArgument, lambda: pgd(net, x, y, 0.1, steps=0)),
        (InvalidArgument, lambda: pgd(net, x, y, 0.1, 5, step_size=0.0)),
        (InvalidArgument, lambda: pgd(net, x, y, 0.1, 5, step_size=-1.0)),
        (InvalidArgument, lambda: pgd(net, x, y, 0.1, restarts=0)),
        (InvalidArgument, lambda: pgd(net, x, y, [0.1], max_batch=0)),
        (InvalidArgument, lambda: pgd(net, x, y, 0.1, restarts=2, random_start=False)),
        (InvalidArgument, lambda: pgd(net, x, y, [0.1, 0.2], step_size=[0.01])),
        (InvalidArgument, lambda: fgsm(net, x * 2, y, 0.1)),
        (InvalidArgument, lambda: fgsm(net, x - 0.5, y, 0.1)),
        (InvalidArgument, lambda: fgsm(net, (x * 255).to(torch.uint8), y, 0.1)),
        (InvalidArgument, lambda: fgsm(net, x, y[:2], 0.1)),
        (InvalidArgument, lambda: fgsm(net, x, y, [])),
        (UnknownName, lambda: fgsm(net, x, y, 0.1, norm="l1")),
        (UnknownName, lambda: attack(net, x, y, "cw", [0.1])),
        (UnknownName, lambda: adversarial_accuracy(net, (x, y), "deepfool", [0.1])),
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls())))
def test_bad_input_raises(case):
    error, call = _bad_calls()[case]
    with pytest.raises(error):
        call()


def test_error_messages_list_valid_names():
    assert ATTACKS.names() == ["fgsm", "pgd"] and BALLS.names() == ["linf", "l2"]
    with pytest.raises(UnknownName, match="fgsm, pgd"):
        ATTACKS.get("cw")
    with pytest.raises(UnknownName, match="linf, l2"):
        BALLS.get("l3")
