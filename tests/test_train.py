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


def test_bf16_autocast_training_is_a_working_option(idx_dir: Path, tmp_path: Path) -> None:
    """train_precision=bfloat16 trains under autocast: other weights than float32 (the option
    is not ignored), a finite loss in float32, and an accuracy close to float32's."""
    from selrob.config import Runtime
    from selrob.experiment import ensure_trained

    rt = Runtime(device="cpu", data_dir=str(idx_dir), quiet=True, threads=1)
    runs = {}
    for precision in ("float32", "bfloat16"):
        spec = _spec(epochs=2, limit_test=128, train_precision=precision)
        runs[precision] = ensure_trained(spec, tmp_path, rt)
    fp32, bf16 = runs["float32"], runs["bfloat16"]
    assert fp32.run_dir != bf16.run_dir
    wa = torch.load(fp32.run_dir / "checkpoint.pt", weights_only=True)["model"]
    wb = torch.load(bf16.run_dir / "checkpoint.pt", weights_only=True)["model"]
    assert all(wb[k].dtype == wa[k].dtype for k in wa)  # autocast: float32 master weights
    assert any(not torch.equal(wa[k], wb[k]) for k in wa if wa[k].is_floating_point())
    last = bf16.metrics["epochs"][-1]
    assert torch.isfinite(torch.tensor(last["train_loss"]))
    assert abs(last["test_accuracy"] - fp32.metrics["epochs"][-1]["test_accuracy"]) <= 0.15
