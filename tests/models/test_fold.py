"""selrob.models.fold: the frozen BN-folded inference copy, checked against the original model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import selrob.models.fold as fold
from selrob.models import build_model
from selrob.models.fold import conv_bn_pairs, inference_copy
from selrob.units import UnitRecorder


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters, so folding is not an identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and m.track_running_stats:
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) - 0.5)
    return model


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    torch.manual_seed(0)
    return _randomise_bn(build_model("resnet20", 1, 10, width=0.5)).eval()


def test_every_batch_norm_is_folded_and_outputs_match(resnet: nn.Module) -> None:
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in resnet.modules())
    assert len(conv_bn_pairs(resnet)) == n_bn > 10  # in resnet20 every BN follows a conv
    fast = inference_copy(resnet, x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert all(not p.requires_grad for p in fast.parameters())
    with torch.no_grad():
        torch.testing.assert_close(fast(x), resnet(x), rtol=1e-4, atol=1e-5)


def test_original_is_untouched(resnet: nn.Module) -> None:
    resnet.train()
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    inference_copy(resnet, torch.rand(4, 1, 28, 28))
    assert resnet.training and all(p.requires_grad for p in resnet.parameters())
    after = resnet.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    resnet.eval()


def test_named_hooks_still_fire_with_the_same_values(resnet: nn.Module) -> None:
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    fast = inference_copy(resnet, x)
    with torch.no_grad(), UnitRecorder(resnet) as a, UnitRecorder(fast) as b:
        resnet(x)
        fast(x)
    assert list(a.acts) == list(b.acts) == resnet.unit_layers
    for name in a.acts:
        torch.testing.assert_close(b.acts[name], a.acts[name], rtol=1e-4, atol=1e-5)


def test_input_gradients_match_the_original(resnet: nn.Module) -> None:
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    fast = inference_copy(resnet, x)
    grads = []
    for net in (resnet, fast):
        xx = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(net(xx)[:, 3].sum(), xx)
        grads.append(g)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)
    assert all(p.grad is None for p in resnet.parameters())


class _Shared(nn.Module):
    """conv1 feeds a BN and a skip path (not foldable); conv2 feeds a batch-statistics BN."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(3, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x)
        return self.bn2(self.conv2(self.bn1(h) + h))


def test_only_single_user_running_stat_pairs_are_folded() -> None:
    net = _randomise_bn(_Shared()).eval()
    assert conv_bn_pairs(net) == [("conv2", "bn2")]
    x = torch.rand(4, 1, 6, 6)
    fast = inference_copy(net, x)
    assert isinstance(fast.bn1, nn.BatchNorm2d) and isinstance(fast.bn2, nn.BatchNorm2d)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net(x))


def test_untraceable_model_is_copied_unfolded() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.bn(self.conv(x))
            return h.relu() if h.sum() > 0 else -h

    net = _randomise_bn(Branchy()).eval()
    assert conv_bn_pairs(net) == []
    x = torch.rand(3, 1, 5, 5)
    fast = inference_copy(net, x)
    assert fast is not net and isinstance(fast.bn, nn.BatchNorm2d)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net(x))


def test_a_fold_that_changes_outputs_is_dropped(
    resnet: nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
        out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                        conv.padding, bias=True)  # fmt: skip
        nn.init.zeros_(out.weight)
        return out

    monkeypatch.setattr(fold, "fuse_conv_bn_eval", broken)
    x = torch.rand(4, 1, 28, 28)
    fast = inference_copy(resnet, x)
    assert any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    with torch.no_grad():
        torch.testing.assert_close(fast(x), resnet(x))
