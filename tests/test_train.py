"""The training loop's loss: with alpha = 0 the regularised step is plain cross-entropy."""

from __future__ import annotations

from pathlib import Path

import torch

from selrob.config import TrainSpec
from selrob.selectivity import regularized_loss
from selrob.train import make_model
from selrob.units import UnitRecorder

FAST = dict(dataset="fashion-mnist", model="small_cnn", epochs=3, batch_size=64, lr=0.05)


def _spec(**kw: object) -> TrainSpec:
    return TrainSpec(**{**FAST, **kw})  # type: ignore[arg-type]


def test_alpha_zero_equals_plain_ce_training_step(idx_dir: Path) -> None:
    x = torch.rand(32, 1, 28, 28)
    y = torch.arange(32) % 10
    grads = []
    for hooks in (False, True):
        model = make_model(_spec(seed=0)).train()
        if hooks:
            with UnitRecorder(model) as rec:
                loss, *_ = regularized_loss(model(x), y, rec.acts, 0.0)
        else:
            loss = torch.nn.functional.cross_entropy(model(x), y)
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
