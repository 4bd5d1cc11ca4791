"""Which modules are units: the models' unit_layers, and name globs on any module."""

from __future__ import annotations

import pytest
import torch

from selrob.units import unit_layer_names


def test_unit_patterns_on_any_module() -> None:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(3)
    )
    assert unit_layer_names(net, "1") == ["1"]
    with pytest.raises(Exception, match="unit"):
        unit_layer_names(net, "default")
    with pytest.raises(Exception, match="matches"):
        unit_layer_names(net, "nothing*")
