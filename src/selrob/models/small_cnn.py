"""A three-layer CNN for fast tests; same introspection surface as the ResNets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from selrob.models.common import MODELS, Normalize, conv_bn_relu


class SmallCNN(nn.Module):
    """stem (c) -> block1 (2c, /2) -> block2 (4c, /2) -> pool -> fc. Units: the three ReLU outputs."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        c: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.stem = conv_bn_relu(in_channels, c)
        self.block1 = conv_bn_relu(c, 2 * c, stride=2)
        self.block2 = conv_bn_relu(2 * c, 4 * c, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * c, num_classes)
        self.unit_layers: list[str] = ["stem", "block1", "block2"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block2(self.block1(self.stem(self.normalize(x))))
        return self.fc(self.pool(out).flatten(1))


@MODELS.register("small_cnn")
def small_cnn(
    in_channels: int, num_classes: int, width: float = 1.0, **norm: Sequence[float]
) -> SmallCNN:
    """Small CNN with 16 x width stem channels."""
    return SmallCNN(in_channels, num_classes, max(1, int(round(16 * width))), **norm)
