"""Every registered model: shapes, unit layers, non-negative units, width multiplier."""

from __future__ import annotations

import pytest
import torch

from selrob.errors import UnknownName
from selrob.models import MODELS, build_model
from selrob.units import UnitRecorder, unit_counts


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_forward_and_units(name: str, channels: int, size: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, channels, 7, width=0.5 if name == "resnet18" else 1.0).eval()
    x = torch.rand(3, channels, size, size)
    with UnitRecorder(model, keep_maps=True) as rec:
        out = model(x)
    assert out.shape == (3, 7)
    assert list(rec.acts) == model.unit_layers and model.unit_layers[0] == "stem"
    for name_, a in rec.acts.items():
        assert a.shape[0] == 3 and bool((a >= 0).all()), name_  # post-ReLU units
        torch.testing.assert_close(a, rec.maps[name_].mean(dim=(2, 3)))


def test_resnet_plans() -> None:
    r20 = build_model("resnet20", 1, 10)
    assert len(r20.unit_layers) == 1 + 9
    assert unit_counts(r20, torch.rand(1, 1, 28, 28))["layer3.2"] == 64
    r18 = build_model("resnet18", 3, 200)
    assert len(r18.unit_layers) == 1 + 8
    assert unit_counts(r18, torch.rand(1, 3, 64, 64))["layer4.1"] == 512
    assert (
        unit_counts(build_model("resnet20", 1, 10, width=2), torch.rand(1, 1, 28, 28))["stem"] == 32
    )


def test_normalize_is_first_module() -> None:
    m = build_model("resnet20", 3, 10, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    first = next(iter(m.children()))
    x = torch.full((1, 3, 4, 4), 0.75)
    torch.testing.assert_close(first(x), torch.ones(1, 3, 4, 4))


def test_unknown_model_lists_names() -> None:
    with pytest.raises(UnknownName, match="resnet20"):
        build_model("vgg", 3, 10)


def test_eval_mode_restores_every_flag_also_on_error() -> None:
    from selrob.models.common import eval_mode, model_device

    net = build_model("small_cnn", 1, 3, width=0.25).train()
    first = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    first.eval()  # a mixed state, e.g. frozen batch norm during fine-tuning
    before = [m.training for m in net.modules()]
    with pytest.raises(RuntimeError, match="boom"), eval_mode(net):
        assert not any(m.training for m in net.modules())
        raise RuntimeError("boom")
    assert [m.training for m in net.modules()] == before
    assert model_device(net) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")


def _block_by_hand(block: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A residual block's output from its weights with out-of-place functional ops only."""
    F = torch.nn.functional

    def bn(m: torch.nn.BatchNorm2d, t: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(t, m.running_mean.clone(), m.running_var.clone(), m.weight, m.bias,
                            training=True, momentum=0.0, eps=m.eps)  # fmt: skip

    out = F.relu(bn(block.bn1, F.conv2d(x, block.conv1.weight, None, block.conv1.stride, 1)))
    out = bn(block.bn2, F.conv2d(out, block.conv2.weight, None, 1, 1))
    if isinstance(block.shortcut, torch.nn.Identity):
        short = x
    else:
        conv, norm = block.shortcut
        short = bn(norm, F.conv2d(x, conv.weight, None, conv.stride))
    return F.relu(out + short)


@pytest.mark.parametrize("cin,cout,stride", [(8, 8, 1), (8, 16, 2)])
def test_in_place_block_equals_out_of_place_ops_and_keeps_its_input(cin, cout, stride) -> None:
    """The block's ReLUs and residual sum work in place: the same output and gradients as
    out-of-place ops, bit for bit, and the input (the previous block's units) is untouched."""
    from selrob.models.resnet import BasicBlock

    torch.manual_seed(0)
    block = BasicBlock(cin, cout, stride).train()
    for m in block.modules():  # non-trivial affine BN parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.5, 0.5)
    x = torch.randn(4, cin, 10, 10, requires_grad=True)
    x_before = x.detach().clone()
    got = block(x)
    assert torch.equal(x.detach(), x_before)  # the Identity shortcut's tensor is not written
    want = _block_by_hand(block, x)
    assert torch.equal(got, want)
    g = torch.randn_like(got)
    grads_got = torch.autograd.grad(got, [x, *block.parameters()], g)
    grads_want = torch.autograd.grad(want, [x, *block.parameters()], g)
    for a, b in zip(grads_got, grads_want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
