"""Overhead of the selectivity regulariser on a training step.

Baseline (same run, same model and batches): plain cross-entropy SGD step with no hooks.
Measured: the selrob step, CE - alpha * mu_SI with forward hooks on every unit layer.
Prints images/s for both and their ratio. Target: overhead < 10% for resnet20 at 28x28, batch 128.
Also the step's share of a ceiling measured in the same run (fp32 matrix multiply, FLOPs of
the step counted by torch's FlopCounterMode), and with ``--profile`` the top ops of a step.

    python benchmarks/train_step.py [--model resnet20] [--width 0.5] [--batch 128] [--steps 20]
        [--channels-last] [--bf16] [--profile] [--device auto]

Latest figures (2026-12-01, 2 cores, torch 2.13 CPU, resnet20 width 0.5, 28 px, batch 128,
one thread): contiguous 501 images/s, channels_last 620 (about 52% of the 68 GFLOP/s fp32
matmul ceiling), channels_last + bf16 autocast 778; batch 256 channels_last 773; width 1
234 -> 322 with channels_last. Profile: convolution backward 40-47% of the step, mkldnn
convolution forward 22%, batch-norm forward 9%, batch-norm backward 6-7%.
On a second machine (2026-12-02, AVX-512 + AMX, one thread): width 0.5 channels_last 1,161
images/s = 25% of a 216 GFLOP/s matmul ceiling, its convolutions alone 96 GFLOP/s, the step at
56% of them; width 1 (32 px RGB, batch 256) 52% of matmul, 64% of its convolutions alone.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch

from selrob.devices import resolve_device
from selrob.models import build_model
from selrob.selectivity import regularized_loss
from selrob.units import UnitRecorder


def make_step(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, alpha: float | None, bf16: bool
) -> Callable[[], None]:
    """One SGD step on (x, y); alpha None = plain CE without hooks."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        with torch.autocast(x.device.type, torch.bfloat16, enabled=bf16):
            if alpha is None:
                loss = torch.nn.functional.cross_entropy(model(x), y)
            else:
                with UnitRecorder(model) as rec:
                    loss, *_ = regularized_loss(model(x), y, rec.acts, alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def bench(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, alpha: float | None,
    bf16: bool = False,
) -> float:  # fmt: skip
    """Images/s of ``steps`` SGD steps; alpha None = plain CE without hooks."""
    step = make_step(model, x, y, alpha, bf16)

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


def matmul_ceiling(device: torch.device, n: int = 1024, reps: int = 10) -> float:
    """fp32 matrix-multiply GFLOP/s on ``device``: the ceiling a step is compared with."""
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    best = 0.0
    for _ in range(3):
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def step_flops(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one regularised training step (forward + backward), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    step = make_step(model, x, y, -1.0, False)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def conv_shape_ceiling(model: torch.nn.Module, x: torch.Tensor, reps: int = 3) -> float:
    """GFLOP/s of the step's convolutions alone: each Conv2d run forward and backward (input
    and weight gradients, as in training) on a copy of the input it sees in the step, with
    nothing between them. The ceiling of these layer shapes, which batch norm, ReLU, the
    residual sums and the regulariser can only lower."""
    from torch.utils.flop_counter import FlopCounterMode

    seen: list[tuple[torch.nn.Module, torch.Tensor]] = []
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, i[0].detach().clone())))
             for m in convs]  # fmt: skip
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    cases = []
    for k, (m, inp) in enumerate(seen):
        conv = copy.deepcopy(m)
        inp.requires_grad_(k > 0)  # the first convolution's input is the image: no gradient
        with torch.no_grad():
            grad = torch.randn_like(conv(inp))  # the layout of the step's own output
        cases.append((conv, inp, grad))

    def run() -> None:
        for conv, inp, grad in cases:
            conv.weight.grad = inp.grad = None  # as zero_grad(set_to_none=True): no accumulation
            conv(inp).backward(grad)

    with FlopCounterMode(display=False) as counter:
        run()
    flops = counter.get_total_flops()
    best = 0.0
    for _ in range(reps + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        for _ in range(5):
            run()
        best = max(best, 5 * flops / (time.perf_counter() - t0) / 1e9)
    return best


def profile(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, bf16: bool) -> None:
    """Print the ten ops that take most of a regularised step."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    step = make_step(model, x, y, -1.0, bf16)
    for _ in range(3):
        step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    p.add_argument("--profile", action="store_true", help="print the top ops of a step")
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
    model = build_model(a.model, a.channels, 10, width=a.width).to(device).train()
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    flops = step_flops(model, x, y) / a.batch
    base, reg = [], []
    for _ in range(a.repeats):  # interleave so load changes hit both equally
        base.append(bench(model, x, y, a.steps, None, a.bf16))
        reg.append(bench(model, x, y, a.steps, -1.0, a.bf16))
    b, r = max(base), max(reg)
    ceiling = matmul_ceiling(device)
    print(
        f"{a.model} width {a.width:g} {a.channels}x{a.size}x{a.size} batch {a.batch} on {device} "
        f"({torch.get_num_threads()} threads, channels_last {a.channels_last}, bf16 {a.bf16})"
    )
    print(f"  plain CE, no hooks (baseline): {b:8.1f} images/s")
    print(f"  CE - alpha*SI with hooks:      {r:8.1f} images/s")
    print(
        f"  ratio regularised/baseline: {r / b:.3f}  (overhead {100 * (b / r - 1):.1f}% of a step)"
    )
    print(
        f"  {flops / 1e6:.0f} MFLOP per image (forward + backward); regularised step at "
        f"{r * flops / 1e9:.1f} GFLOP/s = {100 * r * flops / 1e9 / ceiling:.0f}% of the "
        f"{ceiling:.0f} GFLOP/s fp32 matmul ceiling"
    )
    if device.type == "cpu" and not a.bf16:
        shapes = conv_shape_ceiling(model, x)
        print(
            f"  its convolutions alone (forward + backward at the step's shapes): {shapes:.1f} "
            f"GFLOP/s = {100 * shapes / ceiling:.0f}% of matmul; the step reaches "
            f"{100 * r * flops / 1e9 / shapes:.0f}% of this ceiling of its layer shapes"
        )
    if a.profile:
        profile(model, x, y, a.bf16)


if __name__ == "__main__":
    main()
