"""Benchmark: selrob PGD vs foolbox 3.3.4 LinfPGD on the same model, batch and epsilon.

Prints images/s of PGD-10 L-inf for both tools and their ratio, then the time of a 6-epsilon
PGD curve done in one ``pgd`` call over a sequence of epsilons (stacking epsilons along the batch up to its default
``max_batch``, and fully stacked) versus six separate ``pgd`` calls.
Timings interleave the contenders and keep the best of ``--repeats`` runs (wall clock and CPU
time), which is robust to other processes sharing the machine.

    PYTHONPATH=src python benchmarks/attacks.py [--batch 128] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn

from selrob.perturb.attacks import default_step_size, pgd


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Conv2d(cin, cout, 1, stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def _fallback_resnet() -> nn.Module:
    """A ResNet20-sized net (3 stages x 3 blocks, 16/32/64 channels) if selrob.models is absent."""
    layers: list[nn.Module] = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for i, cout in enumerate((16, 32, 64)):
        for b in range(3):
            layers.append(_Block(cin, cout, 2 if i > 0 and b == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def _model() -> tuple[nn.Module, str]:
    try:
        from selrob.models import build_model

        return build_model("resnet20", in_channels=1, num_classes=10), "selrob.models resnet20"
    except Exception:  # noqa: BLE001  (the models package may not exist yet)
        return _fallback_resnet(), "local resnet20-sized net"


def _best(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Interleaved timing: {name: (best wall seconds, best CPU seconds)} after one warm-up each."""
    for fn in fns.values():
        fn()
    best = {k: (float("inf"), float("inf")) for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            w, c = time.perf_counter() - w0, time.process_time() - c0
            best[name] = (min(best[name][0], w), min(best[name][1], c))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="images per attack call")
    parser.add_argument("--steps", type=int, default=10, help="PGD steps")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per contender (best kept)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import foolbox as fb

    model, model_name = _model()
    model.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g)
    eps, steps = 8 / 255, args.steps
    step = default_step_size(eps, steps)
    fmodel = fb.PyTorchModel(model, bounds=(0, 1), device="cpu")
    fb_pgd = fb.attacks.LinfPGD(abs_stepsize=step, steps=steps)

    print(
        f"model: {model_name}; batch {args.batch}; PGD-{steps} L-inf eps 8/255, step 2.5*eps/steps"
    )
    print(f"torch {torch.__version__}, foolbox {fb.__version__}, threads {torch.get_num_threads()}")
    t = _best(
        {
            "selrob pgd": lambda: pgd(
                model, x, y, eps, steps, step, generator=torch.Generator().manual_seed(0)
            ),
            "foolbox LinfPGD.run": lambda: fb_pgd.run(fmodel, x, y, epsilon=eps),
            "foolbox LinfPGD()": lambda: fb_pgd(fmodel, x, y, epsilons=eps),
        },
        args.repeats,
    )
    for name, (wall, cpu) in t.items():
        print(
            f"  {name:22s} {args.batch / wall:8.1f} images/s (wall {wall:.3f} s, cpu {cpu:.3f} s)"
        )
    ours, ref = t["selrob pgd"], t["foolbox LinfPGD.run"]
    print(f"  speed-up vs foolbox .run: wall x{ref[0] / ours[0]:.2f}, cpu x{ref[1] / ours[1]:.2f}")

    curve = [0.5 / 255, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255]
    t = _best(
        {
            "pgd, one call over the curve (default stacking)": lambda: pgd(
                model, x, y, curve, steps
            ),
            "pgd, one call over the curve (1 stack)": lambda: pgd(
                model, x, y, curve, steps, max_batch=10**9
            ),
            "six pgd calls": lambda: [pgd(model, x, y, e, steps) for e in curve],
        },
        max(1, args.repeats - 1),
    )
    print(f"6-epsilon PGD-{steps} curve on {args.batch} images (default max_batch stacks to 256):")
    sep = t["six pgd calls"]
    for name, (wall, cpu) in t.items():
        ratio = f"x{sep[0] / wall:.2f} vs six calls" if name != "six pgd calls" else ""
        print(f"  {name:22s} wall {wall:.3f} s, cpu {cpu:.3f} s  {ratio}")


if __name__ == "__main__":
    main()
