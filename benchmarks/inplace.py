"""Benchmark: in-place ReLU and residual sum in selrob's residual blocks vs out-of-place ops.

Baseline (same run, same weights and images): the same networks with ``nn.ReLU(inplace=False)``
and ``relu(out + shortcut(x))``, the blocks as they were before. Measured, on the BN-folded
channels_last inference copy every evaluation uses (:func:`selrob.models.fold.inference_copy`):
forward passes (clean and corrupted accuracy, float32 and bfloat16 autocast), input-gradient
passes (attacks), and a regularised training step on the model itself. Prints images/s of both,
their ratio and the minor page faults per batch (each fresh activation-sized buffer is new
memory the kernel maps in); it first checks that both give bit-identical outputs, gradients
and weights after the steps.

    PYTHONPATH=src python benchmarks/inplace.py [--batch 256] [--reps 5] [--threads 1]

Latest figures: docs/performance.md ("In-place ReLU and residual sum").
"""

from __future__ import annotations

import argparse
import copy
import resource
import time
from collections.abc import Callable

import torch
from torch import nn

from selrob.models import build_model
from selrob.models.fold import inference_copy
from selrob.models.resnet import BasicBlock
from selrob.selectivity import regularized_loss
from selrob.units import UnitRecorder


class OutOfPlace(nn.Module):
    """A BasicBlock computed with out-of-place ops (the baseline); shares the block's modules."""

    def __init__(self, block: BasicBlock) -> None:
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.bn2 = block.conv1, block.bn1, block.conv2, block.bn2
        self.shortcut = block.shortcut
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def out_of_place(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every block and ReLU out of place (same weights)."""
    model = copy.deepcopy(model)
    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, BasicBlock):
                setattr(m, child_name, OutOfPlace(child))
            elif isinstance(child, nn.ReLU):
                setattr(m, child_name, nn.ReLU(inplace=False))
    return model


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed(fn: Callable[[], None], reps: int) -> tuple[float, float]:
    """(best seconds of one call over ``reps``, minor page faults per call)."""
    fn()  # warm-up: oneDNN primitives, allocator
    best, f0 = float("inf"), faults()
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best, (faults() - f0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--train-batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("resnet20", 1, 10, width=0.5, mean=(0.5,), std=(0.5,))
    base = out_of_place(model)
    x = torch.rand(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    nets = {"in place": inference_copy(model, x[:16]), "out of place": inference_copy(base, x[:16])}

    def forward(net: nn.Module, bf16: bool) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                net(x)

        return run

    def input_grad(net: nn.Module) -> Callable[[], None]:
        def run() -> None:
            xi = x.clone().requires_grad_(True)
            loss = nn.functional.cross_entropy(net(xi), y, reduction="sum")
            torch.autograd.grad(loss, xi)

        return run

    # equality first: a faster variant that computed something else would be no result
    with torch.no_grad():
        assert torch.equal(nets["in place"](x), nets["out of place"](x))
    grads = [torch.autograd.grad(nn.functional.cross_entropy(n(xi := x.clone().requires_grad_(True)), y), xi)[0]
             for n in nets.values()]  # fmt: skip
    assert torch.equal(*grads)

    xt = x[: args.train_batch].contiguous(memory_format=torch.channels_last)
    yt = y[: args.train_batch]
    trainees = {k: copy.deepcopy(m).to(memory_format=torch.channels_last)
                for k, m in (("in place", model), ("out of place", base))}  # fmt: skip

    def train_step(net: nn.Module) -> Callable[[], None]:
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        rec = UnitRecorder(net).__enter__()  # hooks stay on for the benchmark's life

        def run() -> None:
            loss, *_ = regularized_loss(net(xt), yt, rec.acts, 2.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return run

    steps = {k: train_step(m) for k, m in trainees.items()}
    print(f"resnet20 width 0.5, 1x28x28, {args.threads} thread(s); eval batch {args.batch}, "
          f"training batch {args.train_batch}")  # fmt: skip
    cases = [
        ("forward float32 (clean accuracy, analyses)", lambda n: forward(nets[n], False), args.batch),
        ("forward bfloat16 (corruption suite)", lambda n: forward(nets[n], True), args.batch),
        ("input gradient float32 (attacks)", lambda n: input_grad(nets[n]), args.batch),
        ("training step, regularised, channels_last", lambda n: steps[n], args.train_batch),
    ]  # fmt: skip
    for label, make, n_img in cases:
        got = {}
        for variant in ("out of place", "in place", "out of place", "in place"):  # interleaved
            secs, flt = timed(make(variant), args.reps)
            best = got.get(variant, (float("inf"), 0.0))
            got[variant] = (min(best[0], secs), flt)
        (s_in, f_in), (s_out, f_out) = got["in place"], got["out of place"]
        print(f"  {label}: {n_img / s_out:7.0f} -> {n_img / s_in:7.0f} images/s "
              f"({s_out / s_in:.2f}x); page faults per batch {f_out:.0f} -> {f_in:.0f}")  # fmt: skip
    w = [torch.cat([p.flatten() for p in m.parameters()]) for m in trainees.values()]
    print(f"  weights after the timed steps identical: {torch.equal(*w)}")


if __name__ == "__main__":
    main()
