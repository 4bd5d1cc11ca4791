"""Small models with known behaviour: a tiny CNN trained on "blob on a ring" images (the
attack tests' target) and a thresholding classifier whose accuracy can be computed by hand."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SIZE = 16


EPS = {"linf": 0.05, "l2": 0.4}  # mid-curve radii for this model: PGD accuracy ~ 40-60%


def blobs(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Class c = a Gaussian blob at angle 2*pi*c/10 on a ring, jittered, on a noisy background."""
    y = torch.randint(0, 10, (n,), generator=g)
    angle = 2 * math.pi * y.float() / 10
    cx = SIZE / 2 + 4.5 * torch.cos(angle) + torch.randn(n, generator=g)
    cy = SIZE / 2 + 4.5 * torch.sin(angle) + torch.randn(n, generator=g)
    ii = torch.arange(SIZE).float()
    d2 = (ii.view(1, -1, 1) - cy.view(-1, 1, 1)) ** 2 + (ii.view(1, 1, -1) - cx.view(-1, 1, 1)) ** 2
    img = 0.7 * torch.exp(-d2 / 8.0) + 0.15 + 0.12 * torch.randn(n, SIZE, SIZE, generator=g)
    return img.clamp(0, 1).unsqueeze(1), y


class TinyCNN(nn.Module):
    """Normalise -> conv 8 -> pool -> conv 16 -> pool -> linear: (N, 1, 16, 16) -> (N, 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.drop = nn.Dropout(0.1)  # so train/eval mode matters
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.c1((x - 0.3) / 0.25)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(self.drop(x.flatten(1)))


def train_tiny_cnn(xtr: torch.Tensor, ytr: torch.Tensor) -> TinyCNN:
    """A TinyCNN trained for 4 epochs of Adam (seeded), in eval mode with no stored grads."""
    g = torch.Generator().manual_seed(1)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        net = TinyCNN()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(4):
        perm = torch.randperm(len(ytr), generator=g)
        for i in range(0, len(ytr), 100):
            b = perm[i : i + 100]
            opt.zero_grad()
            F.cross_entropy(net(xtr[b]), ytr[b]).backward()
            opt.step()
    net.zero_grad(set_to_none=True)
    return net.eval()


def accuracy_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


class MeanThreshold(torch.nn.Module):
    """Predicts class 1 when the image's mean brightness exceeds t, else 0 (hand-checkable)."""

    def __init__(self, t: float) -> None:
        super().__init__()
        self.t = t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([self.t - m, m - self.t], 1)
