"""Accuracy under attack per epsilon, and the datasets' default epsilon grids."""

from __future__ import annotations

import pytest
import torch
from helpers.models import accuracy_of

from selrob.analysis.adversarial_robustness import adversarial_accuracy, default_epsilons
from selrob.data import DATASETS
from selrob.errors import UnknownName
from selrob.perturb.attacks import (
    BALLS,
)


def test_adversarial_accuracy_inputs_and_records(model, data):
    x, y = data[2][:120], data[3][:120]
    u8 = (x * 255).round().to(torch.uint8)
    xq = u8.float() / 255
    from_tensors = adversarial_accuracy(model, (u8, y), "fgsm", [0.0, 0.05, 0.05], batch_size=50)
    loader = [(xq[i : i + 50], y[i : i + 50]) for i in range(0, 120, 50)]
    from_loader = adversarial_accuracy(model, loader, "fgsm", [0.0, 0.05], progress=False)
    assert from_tensors == from_loader  # duplicates dropped; same numbers either way
    assert [set(r) for r in from_tensors] == [{"attack", "norm", "epsilon", "accuracy", "n"}] * 2
    assert from_tensors[0]["n"] == 120 and from_tensors[1]["attack"] == "fgsm"
    assert from_tensors[0]["accuracy"] == pytest.approx(accuracy_of(model, xq, y))


def test_default_epsilons():
    assert {"cifar10", "tinyimagenet", "fashion-mnist", "mnist"} <= set(DATASETS.names())
    for dataset in DATASETS.names():
        for norm in BALLS.names():
            grid = default_epsilons(dataset, norm)
            assert grid[0] == 0.0 and grid == sorted(grid) and len(set(grid)) == len(grid)
    assert default_epsilons("cifar10", "linf")[-1] == pytest.approx(8 / 255)
    with pytest.raises(UnknownName, match="cifar10"):
        default_epsilons("imagenet", "linf")
    with pytest.raises(UnknownName, match="linf"):
        default_epsilons("cifar10", "l1")
