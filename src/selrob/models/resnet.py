"""CIFAR-style ResNets (He et al. 2016): 3x3 stem, no max-pool, stages of basic blocks.

``resnet20``: 3 stages x 3 blocks, 16/32/64 channels (CIFAR-10 in the paper; Fashion-MNIST here).
``resnet18``: 4 stages x 2 blocks, 64-512 channels, 3x3 stem and no max-pool (the Tiny-ImageNet
variant of the companion paper). Downsampling shortcuts are 1x1 conv + BN (option B), as in
open_lth's CIFAR ResNet. Units are the stem output and each block's output after its final ReLU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from selrob.models.common import MODELS, Normalize, conv_bn_relu


class BasicBlock(nn.Module):
    """relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); output (N, cout, H/stride, W/stride) >= 0."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ReLU and the residual sum write into the conv/BN outputs, which no backward pass
        # reads (conv saves its input, BN its input and statistics): the same numbers, and no
        # fresh activation-sized buffer per op (on the CPU each one page-faults in).
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)  # `out` is this block's own tensor, never x (Identity shortcut)
        return self.relu(out)


class CifarResNet(nn.Module):
    """Generic CIFAR ResNet given a plan of (channels, blocks) per stage."""

    def __init__(
        self,
        plan: Sequence[tuple[int, int]],
        in_channels: int,
        num_classes: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.stem = conv_bn_relu(in_channels, plan[0][0])
        cin = plan[0][0]
        self.unit_layers: list[str] = ["stem"]
        stages = []
        for i, (cout, blocks) in enumerate(plan):
            layer = []
            for b in range(blocks):
                stride = 2 if (i > 0 and b == 0) else 1
                layer.append(BasicBlock(cin, cout, stride))
                cin = cout
                self.unit_layers.append(f"layer{i + 1}.{b}")
            stages.append(nn.Sequential(*layer))
        self._stage_names = [f"layer{i + 1}" for i in range(len(stages))]
        for name, stage in zip(self._stage_names, stages, strict=True):
            self.add_module(name, stage)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) in [0, 1] -> last feature map."""
        out = self.stem(self.normalize(x))
        for name in self._stage_names:
            out = getattr(self, name)(out)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.forward_features(x)).flatten(1))


def _ch(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


@MODELS.register("resnet20")
def resnet20(
    in_channels: int, num_classes: int, width: float = 1.0, **norm: Sequence[float]
) -> CifarResNet:
    """ResNet20: 3 stages of 3 basic blocks, 16/32/64 channels x width; inputs >= 28 px."""
    plan = [(_ch(c, width), 3) for c in (16, 32, 64)]
    return CifarResNet(plan, in_channels, num_classes, **norm)


@MODELS.register("resnet18")
def resnet18(
    in_channels: int, num_classes: int, width: float = 1.0, **norm: Sequence[float]
) -> CifarResNet:
    """ResNet18 (CIFAR/Tiny-ImageNet style): 3x3 stem, no max-pool, 4 stages x 2 blocks, 64-512."""
    plan = [(_ch(c, width), 2) for c in (64, 128, 256, 512)]
    return CifarResNet(plan, in_channels, num_classes, **norm)
