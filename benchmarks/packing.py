"""Packing K runs of one network on one device: one vmapped step over K stacked models
(``torch.func.stack_module_state`` + ``functional_call`` under ``vmap``, autograd through it)
against the K models stepped one after another in one process, which is what K packed worker
processes (``--jobs K`` per device, the sweeps' packing) share of one device.

Both train the regularised loss ``CE - alpha * mu_SI`` of every model on its own batch, with
SGD (momentum, weight decay) and batch norm in training mode. Before timing, the script checks
that a vmapped step leaves every model's parameters and running statistics equal to the
separate steps' (float tolerance): the packed-equals-separate check of this path. (After one
step they agree to 6e-8 on the CPU; over more steps rounding differences grow, to about 1e-3
after three, as the max over classes in mu_SI amplifies them, which any change of summation
order, channels_last included, does as well.) The
regulariser inside ``vmap`` is the same formula as ``selrob.selectivity`` written without its
data-dependent branch (classes absent from a batch give zero means, which leave the max of
non-negative means and their sum unchanged).

    python benchmarks/packing.py [--k 4] [--width 0.5] [--batch 128] [--steps 10] [--device auto]

Prints images/s of both and their ratio; on the CPU both share the same cores, so the ratio
says whether stacking the K small networks into wider kernels beats running them in turn.
Latest figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from selrob.devices import resolve_device
from selrob.models import build_model
from selrob.selectivity import regularized_loss
from selrob.units import UnitRecorder

CLASSES = 10
ALPHA = 1.0


def masked_selectivity(acts: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """mu_SI of one batch, without a data-dependent branch (vmappable)."""
    onehot = nn.functional.one_hot(y, CLASSES).float()  # (N, C)
    counts = onehot.sum(0)
    n_present = (counts > 0).float().sum().clamp(min=2)
    layers = []
    for a in acts.values():  # a: (N, U), non-negative (post-ReLU block outputs)
        means = onehot.t() @ a / counts.clamp(min=1).unsqueeze(1)  # absent classes: 0 rows
        mu_max = means.max(0).values
        mu_rest = (means.sum(0) - mu_max) / (n_present - 1)
        layers.append(((mu_max - mu_rest) / (mu_max + mu_rest + 1e-7)).mean())
    return torch.stack(layers).mean()


def separate(models: list[nn.Module], lr: float) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """A step of each model in turn, with selrob's own regularised loss."""
    opts = [torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4) for m in models]

    def step(xs: torch.Tensor, ys: torch.Tensor) -> None:
        for m, opt, x, y in zip(models, opts, xs, ys, strict=True):
            with UnitRecorder(m) as rec:
                loss, *_ = regularized_loss(m(x), y, rec.acts, ALPHA)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return step


class Stacked:
    """K models as stacked parameters and buffers, stepped in one vmapped call."""

    def __init__(self, models: list[nn.Module], lr: float) -> None:
        params, buffers = stack_module_state(models)
        self.params = {k: v.detach().requires_grad_() for k, v in params.items()}
        self.buffers = buffers  # running statistics, updated in place under vmap
        self.base = copy.deepcopy(models[0])  # its modules carry the hooks; weights swapped in
        self.opt = torch.optim.SGD(self.params.values(), lr=lr, momentum=0.9, weight_decay=5e-4)

    def loss(self, p: dict, b: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with UnitRecorder(self.base) as rec:
            logits = functional_call(self.base, (p, b), (x,))
            ce = nn.functional.cross_entropy(logits, y)
            return ce - ALPHA * masked_selectivity(rec.acts, y)

    def step(self, xs: torch.Tensor, ys: torch.Tensor) -> None:
        losses = vmap(self.loss)(self.params, self.buffers, xs, ys)  # (K,)
        self.opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # model k's loss depends on its own slice only
        self.opt.step()


def make_models(k: int, width: float, device: torch.device) -> list[nn.Module]:
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        out.append(build_model("resnet20", 1, CLASSES, width=width).to(device).train())
    return out


def check_equal(k: int, width: float, batch: int, device: torch.device) -> float:
    """Max abs difference of parameters and buffers after one step, vmapped vs separate."""
    a, b = make_models(k, width, device), make_models(k, width, device)
    sep, stk = separate(a, 0.05), Stacked(b, 0.05)
    g = torch.Generator().manual_seed(0)
    for _ in range(1):
        xs = torch.rand(k, batch, 1, 28, 28, generator=g).to(device)
        ys = torch.randint(0, CLASSES, (k, batch), generator=g).to(device)
        sep(xs, ys)
        stk.step(xs, ys)
    worst = 0.0
    for i, m in enumerate(a):
        for name, t in [*m.named_parameters(), *m.named_buffers()]:
            other = stk.params.get(name, stk.buffers.get(name))
            gap = (t.detach().double() - other[i].detach().double()).abs().max()
            worst = max(worst, float(gap))
    return worst


def rate(step: Callable[[torch.Tensor, torch.Tensor], None], k: int, batch: int,
         device: torch.device, steps: int) -> float:  # fmt: skip
    xs = torch.rand(k, batch, 1, 28, 28, device=device)
    ys = torch.randint(0, CLASSES, (k, batch), device=device)
    step(xs, ys)  # warm-up
    best = 0.0
    for _ in range(3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            step(xs, ys)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, steps * k * batch / (time.perf_counter() - t0))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=4, help="models packed")
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="auto")
    ns = p.parse_args()
    device = resolve_device(ns.device)
    diff = check_equal(2, ns.width, 32, device)
    tol = 1e-5 if device.type == "cpu" else 1e-3
    print(
        f"vmapped vs separate, one step of 2 models: max |difference| {diff:.2e} (tolerance {tol:g})"
    )
    if diff > tol:
        raise SystemExit("the vmapped step does not equal the separate steps")
    seq = rate(
        separate(make_models(ns.k, ns.width, device), 0.05), ns.k, ns.batch, device, ns.steps
    )
    stk = Stacked(make_models(ns.k, ns.width, device), 0.05)
    vm = rate(stk.step, ns.k, ns.batch, device, ns.steps)
    print(f"device {device}, threads {torch.get_num_threads()}, {ns.k} x resnet20 width "
          f"{ns.width:g}, batch {ns.batch}")  # fmt: skip
    print(f"  one after another: {seq:8.0f} images/s")
    print(f"  vmapped (stacked): {vm:8.0f} images/s   ratio {vm / seq:.2f}")


if __name__ == "__main__":
    main()
