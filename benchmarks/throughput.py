"""Throughput on the current device, against a ceiling measured in the same run, and the wall
time of the packaged sweeps projected from it.

Measured, per model configuration the sweeps use (resnet20 width 0.5 at 28 px grey for the
demo and reproduce profiles, resnet20 at 32 px RGB for paper-cifar10, resnet18 at 64 px RGB
with 200 classes for paper-tinyimagenet), on random data:

- the ceiling: fp32 matrix multiply (and bf16 on CUDA), GFLOP/s;
- a regularised training step (the sweep's batch size, channels_last as the profile says):
  images/s and its share of the fp32 ceiling (FLOPs counted by torch's FlopCounterMode);
- each evaluation section selrob runs (clean pass, corruption suite, FGSM + PGD, dimensionality,
  gradients) on a small sample through selrob's own section code, seconds per image.

The projection of a sweep: per run, epochs x training images / step rate, plus each section's
seconds per image x the profile's sample sizes; runs in parallel ``--jobs`` at a time (on CPU
one thread each; the default is one job per core). It assumes the jobs do not slow each other,
which on 2 cores holds to about 15% (docs/performance.md).

    python benchmarks/throughput.py [--device auto] [--jobs N] [--profiles demo,reproduce,...]

Latest figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable

import torch

from selrob.config import EvalSpec
from selrob.data import ImageDataset
from selrob.devices import cpu_cores, keep_freed_memory, resolve_device
from selrob.experiment.evaluation import plan
from selrob.experiment.sections import SECTIONS, Context
from selrob.models import build_model
from selrob.presets import resolve
from selrob.probe_spec import ProbeSpec
from selrob.selectivity import regularized_loss
from selrob.sweep import Sweep, builtin_sweep, load_sweep
from selrob.units import UnitRecorder

DATASET_SHAPES = {"fashion-mnist": (1, 28, 10, 60000), "mnist": (1, 28, 10, 60000),
                  "cifar10": (3, 32, 10, 50000), "tinyimagenet": (3, 64, 200, 100000)}  # fmt: skip
"""(channels, size, classes, training images) per dataset."""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def best_rate(fn: Callable[[], None], work: float, device: torch.device, reps: int = 3) -> float:
    """``work`` units per second of ``fn``, best of ``reps`` timed calls after one warm-up."""
    fn()
    sync(device)
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(device)
        best = max(best, work / (time.perf_counter() - t0))
    return best


def matmul_gflops(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    n = 2048 if device.type == "cuda" else 1024
    a, b = (
        torch.rand(n, n, device=device, dtype=dtype),
        torch.rand(n, n, device=device, dtype=dtype),
    )
    reps = 50 if device.type == "cuda" else 5
    return best_rate(lambda: [a @ b for _ in range(reps)], 2 * n**3 * reps / 1e9, device)


def train_rate(sweep: Sweep, device: torch.device, steps: int) -> tuple[float, float]:
    """(images/s of a regularised SGD step, FLOPs per image) for the sweep's network."""
    spec = resolve(sweep.base)
    c, size, classes, _ = DATASET_SHAPES[spec.dataset]
    b = int(spec.batch_size or 128)
    torch.manual_seed(0)
    model = build_model(spec.model, c, classes, width=spec.width).to(device).train()
    fmt = torch.channels_last if spec.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.rand(b, c, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, classes, (b,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        with UnitRecorder(model, spec.units) as rec:
            loss, *_ = regularized_loss(model(x), y, rec.acts, 1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    rate = best_rate(lambda: [step() for _ in range(steps)], steps * b, device)
    return rate, counter.get_total_flops() / b


def section_seconds(sweep: Sweep, device: torch.device, n: int) -> dict[str, float]:
    """Seconds per evaluated image of each section the sweep asks for, on ``n`` random images."""
    spec = resolve(sweep.base)
    c, size, classes, _ = DATASET_SHAPES[spec.dataset]
    g = torch.Generator().manual_seed(0)
    data = ImageDataset(torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=g),
                        torch.arange(n) % classes, tuple(map(str, range(classes))), spec.dataset)  # fmt: skip
    ev = dataclasses.replace(sweep.eval_spec, limit_test=None, attack_samples=None,
                             analysis_samples=n, gradient_samples=min(n, 32))  # fmt: skip
    torch.manual_seed(0)
    model = build_model(spec.model, c, classes, width=spec.width).to(device).eval()
    ident = ProbeSpec(model_source="benchmark:random", dataset=spec.dataset, units=spec.units)
    ctx = Context(model, ident, ev, data, device, False)
    out = {}
    for name in plan(ev):
        t0 = time.perf_counter()
        SECTIONS.get(name).run(ctx)
        sync(device)
        used = ev.gradient_samples if name == "gradients" else n
        out[name] = (time.perf_counter() - t0) / used
    return out


def section_images(sweep: Sweep, name: str, n_test: int) -> int:
    """How many test images the sweep's section ``name`` evaluates."""
    ev: EvalSpec = sweep.eval_spec
    n = min(n_test, ev.limit_test or n_test)
    return {"attacks": min(n, ev.attack_samples or n), "dimensionality": min(n, ev.analysis_samples),
            "gradients": min(n, ev.gradient_samples)}.get(name, n)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--jobs", type=int, default=None, help="runs at a time [default: cores on CPU, 1 on GPU]"
    )
    p.add_argument("--profiles", default="demo,reproduce,paper-cifar10,paper-tinyimagenet")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--n", type=int, default=128, help="images per section measurement")
    a = p.parse_args()
    keep_freed_memory()  # as in every sweep run's process
    device = resolve_device(a.device)
    jobs = a.jobs or (cpu_cores() if device.type == "cpu" else 1)
    if device.type == "cpu":
        torch.set_num_threads(1)  # one thread per job, as the sweeps run
    ceiling = matmul_gflops(device)
    line = f"device {device}, {torch.get_num_threads()} thread(s) per job, {jobs} jobs; fp32 matmul {ceiling:.0f} GFLOP/s"
    if device.type == "cuda":
        line += f", bf16 matmul {matmul_gflops(device, torch.bfloat16):.0f} GFLOP/s"
    print(line)
    for name in a.profiles.split(","):
        sweep = load_sweep(builtin_sweep(name))
        spec = resolve(sweep.base)
        rate, flops = train_rate(sweep, device, a.steps)
        share = rate * flops / 1e9 / ceiling
        secs = section_seconds(sweep, device, a.n)
        n_train = min(
            spec.limit_train or DATASET_SHAPES[spec.dataset][3], DATASET_SHAPES[spec.dataset][3]
        )
        n_test = 10000
        train_s = int(spec.epochs or 0) * n_train / rate
        eval_s = {k: v * section_images(sweep, k, n_test) for k, v in secs.items()}
        per_run = train_s + sum(eval_s.values())
        runs = len(sweep.runs())
        wall = per_run * runs / jobs
        print(
            f"{name}: {spec.model} width {spec.width:g}, batch {spec.batch_size}: train step "
            f"{rate:.0f} img/s, {flops / 1e6:.0f} MFLOP/img, {100 * share:.0f}% of the fp32 ceiling"
        )
        print("  evaluation per run: " + ", ".join(f"{k} {v:.0f} s" for k, v in eval_s.items()))
        print(
            f"  per run {train_s:.0f} s training + {sum(eval_s.values()):.0f} s evaluation; "
            f"{runs} runs / {jobs} jobs: {wall / 3600:.2f} h projected"
        )


if __name__ == "__main__":
    main()
