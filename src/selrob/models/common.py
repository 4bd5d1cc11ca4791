"""Pieces shared by every model: the registry, the input-normalisation layer, and the helpers
every analysis needs (eval mode with every flag restored, the model's device, the one clean
accuracy loop)."""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from selrob.registry import Registry

MODELS: Registry = Registry("model")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode; restore every submodule's ``training`` flag on exit."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, was_training in modes:
            m.training = was_training


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def accuracy(
    model: nn.Module,
    data: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    observe: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
    autocast: torch.dtype | None = None,
) -> tuple[float, int]:
    """``(accuracy, n)`` of ``model`` over ``(x (B, C, H, W) in [0, 1], y (B,))`` batches, in
    eval mode; ``observe(logits, y)`` sees every batch (e.g. to read a UnitRecorder).
    ``autocast``: run the forward passes under ``torch.autocast`` in that dtype (bfloat16).

    For speed, pass a frozen copy (:func:`selrob.models.fold.frozen_for`, built from the
    first batch seen with :func:`peek`).
    """
    correct = n = 0
    with eval_mode(model):
        for x, y in data:
            with torch.autocast(x.device.type, dtype=autocast or torch.float32,
                                enabled=autocast is not None):  # fmt: skip
                logits = model(x)
            correct += int((logits.argmax(1) == y).sum())
            n += int(y.shape[0])
            if observe is not None:
                observe(logits, y)
    return correct / max(n, 1), n


def peek(
    data: Iterable[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """``(first batch or None, an iterator over all the batches)``: look at a stream's first
    batch (e.g. to build a frozen copy from it) without losing it."""
    it = iter(data)
    first = next(it, None)
    return first, (it if first is None else itertools.chain([first], it))


class Normalize(nn.Module):
    """(x - mean) / std per channel; x: (N, C, H, W) float in [0, 1]."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer(
            "mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        )
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv -> BatchNorm -> ReLU (the CIFAR-ResNet stem); the ReLU overwrites the BN
    output, which BN's backward does not read."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def state_mismatch(model: nn.Module, state: dict) -> str | None:
    """How ``state`` fails to fit ``model`` (at most 5 missing, unexpected and mis-shaped keys
    each), or None when it fits."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and getattr(state[k], "shape", None) != own[k].shape]
    parts = [f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
             for label, keys in (("missing", missing), ("unexpected", unexpected),
                                 ("mis-shaped", shapes)) if keys]  # fmt: skip
    return "; ".join(parts) or None


def load_tensors(path: Path | str, map_location: torch.device | str = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: a file that asks to run code is refused, never
    executed. The UserWarnings torch prints for foreign pickle protocols are silenced (such a
    file is refused or read either way); errors propagate for the caller to name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(path, map_location=map_location, weights_only=True)
