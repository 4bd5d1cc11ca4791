"""Benchmark: the mechanism analyses (dimensionality, input-unit gradients) on Fashion-MNIST.

Model: resnet20 (1 channel, 10 classes) at random initialisation (torch seed 0, BatchNorm in
eval mode with its initial running statistics); the cost of every analysis depends only on the
architecture, not on the weights. Each phase runs in its own process so that its peak resident
memory (``ru_maxrss``) is its own:

- ``compare``: input-unit gradients by one backward per unit (``loop``) vs ``torch.func``
  vjp vmapped over one-hot cotangents (``vmap``), same images and units, best of 2 each;
- ``gradients``: :func:`gradient_variability` on ``--grad-n`` images (``--grad-units`` random
  units per layer; 0 = all);
- ``dims``: :func:`layer_dimensionality` of every unit layer on ``--n`` test images: clean,
  ``gaussian_noise`` severity 3 and FGSM L-inf at 1/255 (selrob's own corruption and attack
  when importable, else a hand-written equivalent), plus the change for both;
- ``bias`` (only with ``--bias-check``): flattened PCA dimensionality of the stem, layer1.0
  and the stem's change under gaussian noise (sigma .18) on 2000 images with 1024 / 2048 /
  4096 / all features, to show what feature subsampling does;
- with ``--dtype-check`` the ``dims`` phase runs again with float64 accumulators and reports
  how many pca95 counts and how much the participation ratios change.

The last line sums the timed phases (``gradients`` + ``dims``) against the issue's target:
under 2 minutes and 4 GiB on 2 CPU cores.

    PYTHONPATH=src python benchmarks/analyses.py [--n 10000] [--grad-n 500] [--grad-units 0]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from selrob.analysis.dimensionality import (
    components_for_variance,
    explained_variance,
    layer_dimensionality,
)
from selrob.analysis.gradients import gradient_variability
from selrob.models import build_model
from selrob.paths import default_data_dir

DATA = default_data_dir("fashion-mnist")


def load_test(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    with gzip.open(DATA / "t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    with gzip.open(DATA / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y.astype(np.int64))


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("resnet20", 1, 10, mean=[0.2860], std=[0.3530]).eval()


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def cpu_s() -> float:
    """CPU seconds of this process, all threads (robust to other processes on the machine)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def perturbations(net: torch.nn.Module) -> dict:
    try:
        from selrob.perturb.corruptions import corrupt

        gen = torch.Generator().manual_seed(1)
        noise, noise_src = (lambda x, y: corrupt(x, "gaussian_noise", 3, gen)), "selrob corrupt"
    except ImportError:
        gen = torch.Generator().manual_seed(1)
        noise = lambda x, y: (x + 0.18 * torch.randn(x.shape, generator=gen)).clamp(0, 1)  # noqa: E731
        noise_src = "hand gaussian noise (sigma .18)"
    try:
        from selrob.perturb.attacks import fgsm

        attack, attack_src = (lambda x, y: fgsm(net, x, y, 1 / 255)), "selrob fgsm"
    except ImportError:

        def attack(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            xx = x.clone().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(net(xx), y)
            (g,) = torch.autograd.grad(loss, xx)
            return (x + g.sign() / 255).clamp(0, 1)

        attack_src = "hand FGSM"
    print(f"  corruption: {noise_src}; attack: {attack_src}")
    return {"gaussian_noise@3": ("corrupted", noise), "fgsm-linf@0.0039": ("adversarial", attack)}


def timing(phase: str, wall: float, cpu: float) -> None:
    """One machine-readable line for the summary of :func:`main`."""
    rec = {"phase": phase, "wall": wall, "cpu": cpu, "peak_gib": peak_gib()}
    print("TIMING " + json.dumps(rec), flush=True)


def timed(pert: dict, clock: dict) -> dict:
    """Wrap each perturbation function to add its wall time to ``clock``."""

    def wrap(fn):  # noqa: ANN001, ANN202
        def inner(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            t = time.perf_counter()
            out = fn(x, y)
            clock["perturb"] = clock.get("perturb", 0.0) + time.perf_counter() - t
            return out

        return inner

    return {k: (kind, wrap(fn)) for k, (kind, fn) in pert.items()}


def phase_compare(args: argparse.Namespace) -> None:
    net, (x, _) = model(), load_test(args.compare_n)
    best = {m: [float("inf"), float("inf")] for m in ("loop", "vmap")}
    for _ in range(2):  # interleaved, best of 2 (wall, CPU)
        for method, b in best.items():
            t, c = time.perf_counter(), cpu_s()
            gradient_variability(
                net, x, method=method, batch_size=args.compare_n, max_units=args.compare_units
            )
            b[0], b[1] = min(b[0], time.perf_counter() - t), min(b[1], cpu_s() - c)
    (lw, lc), (vw, vc) = best["loop"], best["vmap"]
    print(
        f"  {args.compare_n} images x {args.compare_units} units x 10 layers: "
        f"loop {lw:.1f} s wall / {lc:.1f} s CPU, vmap {vw:.1f} s wall / {vc:.1f} s CPU "
        f"(vmap / loop: wall {vw / lw:.2f}, CPU {vc / lc:.2f})"
    )


def phase_gradients(args: argparse.Namespace) -> None:
    net, (x, _) = model(), load_test(args.grad_n)
    units = args.grad_units or None
    t, c = time.perf_counter(), cpu_s()
    recs = gradient_variability(net, x, batch_size=100, max_units=units)
    dt, dc = time.perf_counter() - t, cpu_s() - c
    print(
        f"  {args.grad_n} images, {units or 'all'} units/layer: {dt:.1f} s wall, {dc:.1f} s CPU, "
        f"peak RSS {peak_gib():.2f} GiB"
    )
    timing("gradients", dt, dc)
    for r in recs:
        if r["layer"] in ("stem", "layer3.2"):
            print(f"    {r['layer']:9s} {r['statistic']:30s} {r['value']:.4f}")


def phase_dims(args: argparse.Namespace) -> None:
    net, (x, y) = model(), load_test(args.n)
    clock: dict[str, float] = {}
    pert = timed(perturbations(net), clock)
    batches = [(x[i : i + 500], y[i : i + 500]) for i in range(0, len(x), 500)]
    t, c = time.perf_counter(), cpu_s()
    with torch.no_grad():
        for xb, _ in batches:
            net(xb)
    fwd_w, fwd_c = time.perf_counter() - t, cpu_s() - c
    print(f"  one plain forward pass over {len(x)} images: {fwd_w:.1f} s wall, {fwd_c:.1f} s CPU")
    t, c = time.perf_counter(), cpu_s()
    recs = layer_dimensionality(net, batches, pert, max_features=args.max_features)
    dt, dc = time.perf_counter() - t, cpu_s() - c
    timing("dims", dt, dc)
    print(
        f"  {len(x)} images, 10 layers x 5 representations, max_features {args.max_features}: "
        f"{dt:.1f} s wall, {dc:.1f} s CPU (perturbing {clock.get('perturb', 0):.1f} s wall), "
        f"peak RSS {peak_gib():.2f} GiB"
    )
    table = {(r["layer"], r["input_kind"], r["measure"]): r["value"] for r in recs}
    for layer in ("stem", "layer1.0", "layer2.0", "layer3.2"):
        row = [
            f"{k}={table[(layer, k, 'pca95')]:.0f}"
            for k in ("clean", "corrupted", "adversarial", "change_corrupted", "change_adversarial")
        ]
        print(f"    {layer:9s} pca95: " + ", ".join(row))
    if args.dtype_check:
        t = time.perf_counter()
        pert = perturbations(net)  # fresh generators: the same perturbed inputs as above
        ref = layer_dimensionality(
            net, batches, pert, max_features=args.max_features, accumulate=torch.float64
        )
        print(f"  the same with float64 accumulators: {time.perf_counter() - t:.1f} s wall")
        got = {(r["layer"], r["input_kind"], r["measure"]): r["value"] for r in recs}
        want = {(r["layer"], r["input_kind"], r["measure"]): r["value"] for r in ref}
        counts = [k for k in want if k[2] == "pca95"]
        differ = [k for k in counts if got[k] != want[k]]
        pr_rel = max(
            abs(got[k] - want[k]) / max(abs(want[k]), 1e-12)
            for k in want
            if k[2] == "participation_ratio"
        )
        print(
            f"  float32 vs float64: pca95 differs in {len(differ)} of {len(counts)} "
            f"representations {differ[:5]}; participation ratio max relative difference {pr_rel:.2e}"
        )


def phase_bias(args: argparse.Namespace) -> None:
    net, (x, _) = model(), load_test(2000)
    noisy = (x + 0.18 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(
        0, 1
    )
    with torch.no_grad():
        stem = net.stem(net.normalize(x))
        reps = {
            "stem": stem.flatten(1),
            "layer1.0": net.layer1[0](stem).flatten(1),
            "stem noise change": (net.stem(net.normalize(noisy)) - stem).flatten(1),
        }
    for name, acts in reps.items():
        gen = torch.Generator().manual_seed(0)
        out = []
        for k in (1024, 2048, 4096, acts.shape[1]):
            idx = torch.randperm(acts.shape[1], generator=gen)[:k]
            out.append(f"{k}: {components_for_variance(explained_variance(acts[:, idx]))}")
        print(f"  {name} pca95 on 2000 images by number of kept features: " + ", ".join(out))


PHASES = {
    "compare": phase_compare,
    "gradients": phase_gradients,
    "dims": phase_dims,
    "bias": phase_bias,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10000, help="images for dimensionality")
    p.add_argument("--grad-n", type=int, default=500, help="images for gradient statistics")
    p.add_argument(
        "--grad-units", type=int, default=0, help="units per layer for gradients (0 = all)"
    )
    p.add_argument("--compare-n", type=int, default=50, help="images for the loop/vmap comparison")
    p.add_argument(
        "--compare-units", type=int, default=16, help="units per layer in the comparison"
    )
    p.add_argument("--max-features", type=int, default=2048, help="feature budget per layer")
    p.add_argument("--bias-check", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument(
        "--dtype-check",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also run dimensionality with float64 accumulators and compare",
    )
    p.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase:
        PHASES[args.phase](args)
        return
    if not (DATA / "t10k-images-idx3-ubyte.gz").exists():
        sys.exit(f"no Fashion-MNIST under {DATA}; install dataset-fashion-mnist")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()}"
    )
    phases = ["compare", "gradients", "dims"] + (["bias"] if args.bias_check else [])
    timings = []
    for phase in phases:
        print(f"[{phase}]", flush=True)
        cmd = [sys.executable, __file__, *sys.argv[1:], "--phase", phase]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
            for line in proc.stdout:
                if line.startswith("TIMING "):
                    timings.append(json.loads(line.removeprefix("TIMING ")))
                else:
                    print(line, end="", flush=True)
        if proc.returncode:
            sys.exit(f"phase {phase} failed with exit status {proc.returncode}")
    print(f"load average at the end {os.getloadavg()}")
    if timings:
        wall = sum(t["wall"] for t in timings)
        peak = max(t["peak_gib"] for t in timings)
        parts = ", ".join(f"{t['phase']} {t['wall']:.1f} s" for t in timings)
        verdict = "met" if wall < 120 and peak < 4 else "NOT met"
        print(
            f"summary: {parts}; total {wall:.1f} s wall, peak RSS {peak:.2f} GiB "
            f"(target < 120 s and < 4 GiB on 2 CPU cores: {verdict})"
        )


if __name__ == "__main__":
    main()
