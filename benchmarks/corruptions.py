"""Benchmark: the whole corruption suite (19 corruptions x 5 severities) on N 32x32 RGB images.

Compares ``selrob.perturb.corruptions.corrupt`` (batched torch) with a per-image baseline
measured in the same run: plain numpy / scipy / Pillow / matplotlib re-derivations of the same
formulas for 13 corruptions (the 11 of part A plus glass and zoom blur, glass with the
published sequential pixel swaps), and a per-image loop over our own torch function (batch of
one) for motion blur, elastic transform, snow, frost, fog and spatter, which have no short
numpy form here. The baseline runs on ``--baseline-n`` images and is extrapolated linearly to N.

    PYTHONPATH=src python benchmarks/corruptions.py [--n 10000] [--baseline-n 200] [--threads 2]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import time
from collections.abc import Callable

import matplotlib.colors as mcolors
import numpy as np
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
from PIL import Image

from selrob.perturb import corruptions as C
from selrob.perturb.corruptions.tables import table_for

# ----------------------------------------------------------------- per-image numpy baselines
# img: (H, W, 3) float64 in [0, 1]; p: the severity row; rng: numpy Generator.


def _np_defocus_kernel(radius: float, alias: float) -> np.ndarray:
    grid = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    k = 3 if radius <= 8 else 5
    t = np.arange(k) - (k - 1) / 2
    g = np.exp(-(t**2) / (2 * alias**2))
    g /= g.sum()
    return ndi.convolve(disk, np.outer(g, g), mode="mirror")


def _np_defocus(img, p, rng):
    k = _np_defocus_kernel(*p)
    return np.stack([ndi.correlate(img[..., c], k, mode="mirror") for c in range(3)], -1)


def _np_hsv(img, p, rng, channel):
    hsv = mcolors.rgb_to_hsv(img)
    if channel == 2:
        hsv[..., 2] = np.clip(hsv[..., 2] + p, 0, 1)
    else:
        hsv[..., 1] = np.clip(hsv[..., 1] * p[0] + p[1], 0, 1)
    return mcolors.hsv_to_rgb(hsv)


def _np_contrast(img, p, rng):
    m = img.mean(axis=(0, 1), keepdims=True)
    return (img - m) * p + m


def _np_pixelate(img, p, rng):
    h, w = img.shape[:2]
    im = Image.fromarray((img * 255).round().astype(np.uint8))
    im = im.resize((int(w * p), int(h * p)), Image.Resampling.BOX).resize(
        (w, h), Image.Resampling.BOX
    )
    return np.asarray(im) / 255.0


def _np_jpeg(img, p, rng):
    buf = io.BytesIO()
    Image.fromarray((img * 255).round().astype(np.uint8)).save(buf, "JPEG", quality=p)
    return np.asarray(Image.open(buf)) / 255.0


def _np_impulse(img, p, rng):
    out = img.copy()
    flipped = rng.random(img.shape) < p
    salted = rng.random(img.shape) < 0.5
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return out


def _np_glass(img, p, rng):
    sigma, d, iterations = p
    x = ndi.gaussian_filter(img, (sigma, sigma, 0), mode="nearest")
    h, w = x.shape[:2]
    for _ in range(iterations):
        for r in range(h - d, d, -1):
            for c in range(w - d, d, -1):
                dx, dy = rng.integers(-d, d, size=2)
                rp, cp = r + dy, c + dx
                x[r, c], x[rp, cp] = x[rp, cp].copy(), x[r, c].copy()
    return ndi.gaussian_filter(x, (sigma, sigma, 0), mode="nearest")


def _np_zoom(img, p, rng):
    h = img.shape[0]
    out = img.copy()
    factors = np.arange(1, p[0], p[1])
    for z in factors:
        ch = math.ceil(h / z)
        top = (h - ch) // 2
        zoomed = ndi.zoom(img[top : top + ch, top : top + ch], (z, z, 1), order=1)
        trim = (zoomed.shape[0] - h) // 2
        out += zoomed[trim : trim + h, trim : trim + h]
    return out / (len(factors) + 1)


NUMPY: dict[str, Callable] = {
    "gaussian_noise": lambda img, p, rng: img + rng.normal(scale=p, size=img.shape),
    "shot_noise": lambda img, p, rng: rng.poisson(img * p) / p,
    "impulse_noise": _np_impulse,
    "speckle_noise": lambda img, p, rng: img + img * rng.normal(scale=p, size=img.shape),
    "gaussian_blur": lambda img, p, rng: ndi.gaussian_filter(img, (p, p, 0), mode="nearest"),
    "defocus_blur": _np_defocus,
    "brightness": lambda img, p, rng: _np_hsv(img, p, rng, 2),
    "saturate": lambda img, p, rng: _np_hsv(img, p, rng, 1),
    "contrast": _np_contrast,
    "pixelate": _np_pixelate,
    "jpeg_compression": _np_jpeg,
    "glass_blur": _np_glass,
    "zoom_blur": _np_zoom,
}


# ----------------------------------------------------------------------------------- timing


def smooth_batch(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n, 3, 8, 8, generator=g)
    return F.interpolate(small, size=(32, 32), mode="bilinear", align_corners=False)


def time_torch(name: str, x: torch.Tensor) -> float:
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for s in C.SEVERITIES:
        C.corrupt(x, name, s, g)
    return time.perf_counter() - t0


def time_baseline(name: str, x: torch.Tensor) -> tuple[float, str]:
    """Seconds for all 5 severities on ``x`` one image at a time, and the baseline's kind."""
    rows = table_for(name, x.shape[2])
    if name in NUMPY:
        imgs = x.permute(0, 2, 3, 1).double().numpy()
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        for p in rows:
            for img in imgs:
                np.clip(NUMPY[name](img, p, rng), 0, 1)
        return time.perf_counter() - t0, "numpy"
    fn = C.implementation(name, x.shape[2])
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    with torch.no_grad():
        for p in rows:
            for i in range(x.shape[0]):
                fn(x[i : i + 1], p, g)
    return time.perf_counter() - t0, "torch-1img"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="images for the batched suite")
    ap.add_argument("--baseline-n", type=int, default=200, help="images for the baseline")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    x = smooth_batch(args.n)
    xb = x[: args.baseline_n].contiguous()
    C.corrupt(x[:8], "contrast", 1)  # warm-up

    load = "load average %.2f %.2f %.2f (1, 5, 15 min)"
    print(f"{os.cpu_count()} CPUs, {load % os.getloadavg()} at start")
    print(f"{'corruption':<18} {'torch s':>8} {'img/s':>9} {'base s (extrap.)':>17} {'ratio':>7}")
    tot_t = tot_b = tot_np_t = tot_np_b = 0.0
    for name in C.CORRUPTIONS:
        tt = time_torch(name, x)
        tb, kind = time_baseline(name, xb)
        tb *= args.n / xb.shape[0]
        tot_t, tot_b = tot_t + tt, tot_b + tb
        if kind == "numpy":
            tot_np_t, tot_np_b = tot_np_t + tt, tot_np_b + tb
        rate = 5 * args.n / tt
        print(f"{name:<18} {tt:8.2f} {rate:9.0f} {tb:12.1f} {kind:>10} {tb / tt:7.1f}x")
    print(
        f"\nsuite: {tot_t:.1f} s for {args.n} images x 19 corruptions x 5 severities "
        f"({95 * args.n / tot_t:.0f} corrupted images/s; {args.threads} torch threads)"
    )
    print(f"per-image baseline (extrapolated from {xb.shape[0]} images): {tot_b:.1f} s")
    print(f"speed-up, whole suite: {tot_b / tot_t:.1f}x")
    print(f"speed-up over the 13 numpy baselines only: {tot_np_b / tot_np_t:.1f}x")
    print(f"{load % os.getloadavg()} at the end (other jobs on the machine skew timings)")


if __name__ == "__main__":
    main()
