"""Overhead of the selectivity regulariser on a training step.

Baseline (same run, same model and batches): plain cross-entropy SGD step with no hooks.
Measured: the selrob step, CE - alpha * mu_SI with forward hooks on every unit layer.
Prints images/s for both and their ratio. Target: overhead < 10% for resnet20 at 28x28, batch 128.

    python benchmarks/train_step.py [--model resnet20] [--batch 128] [--steps 20] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import torch

from selrob.devices import resolve_device
from selrob.models import build_model
from selrob.selectivity import regularized_loss
from selrob.units import UnitRecorder


def bench(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, alpha: float | None
) -> float:
    """Images/s of ``steps`` SGD steps; alpha None = plain CE without hooks."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        if alpha is None:
            loss = torch.nn.functional.cross_entropy(model(x), y)
        else:
            with UnitRecorder(model) as rec:
                loss, *_ = regularized_loss(model(x), y, rec.acts, alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return steps * x.shape[0] / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    device = resolve_device(a.device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(a.batch, a.channels, a.size, a.size, generator=g).to(device)
    y = torch.randint(0, 10, (a.batch,), generator=g).to(device)
    torch.manual_seed(0)
    model = build_model(a.model, a.channels, 10).to(device).train()
    base, reg = [], []
    for _ in range(a.repeats):  # interleave so load changes hit both equally
        base.append(bench(model, x, y, a.steps, None))
        reg.append(bench(model, x, y, a.steps, -1.0))
    b, r = max(base), max(reg)
    print(
        f"{a.model} {a.channels}x{a.size}x{a.size} batch {a.batch} on {device} ({torch.get_num_threads()} threads)"
    )
    print(f"  plain CE, no hooks (baseline): {b:8.1f} images/s")
    print(f"  CE - alpha*SI with hooks:      {r:8.1f} images/s")
    print(
        f"  ratio regularised/baseline: {r / b:.3f}  (overhead {100 * (b / r - 1):.1f}% of a step)"
    )


if __name__ == "__main__":
    main()
