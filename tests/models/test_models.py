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
