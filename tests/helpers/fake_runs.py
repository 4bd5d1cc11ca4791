"""Write a fake RUNS_DIR of finished runs following docs/metrics-schema.md, with known trends.

Used by the results/stats/report tests (and by anyone who needs a realistic sweep without
training). The trends built in follow the paper's claims, so a correct analysis reproduces them:

* measured selectivity rises with alpha (the regulariser works);
* clean accuracy falls as alpha grows above 0 (and slightly for strongly negative alpha);
* corrupted accuracy falls, and the clean-minus-corrupted drop grows, with selectivity (claim 1);
* adversarial accuracy rises with selectivity (claim 2);
* early-layer clean dimensionality falls with selectivity; adversarial inputs change early layers
  in more dimensions than corrupted ones, more so at low selectivity (claim 3);
* input-unit gradient variability rises with selectivity (claim 4).

``reverse=True`` flips the robustness and mechanism trends (claims 1-4), so a test can check that
the report then says "opposite". Values carry seeded Gaussian noise.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

CORRUPTION_NAMES = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip
FAMILY = {name: family for family, names in (
    ("noise", CORRUPTION_NAMES[:3]), ("blur", CORRUPTION_NAMES[3:7]),
    ("weather", CORRUPTION_NAMES[7:11]), ("digital", CORRUPTION_NAMES[11:])) for name in names}  # fmt: skip
LAYERS = ("stem",) + tuple(f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3))
LINF_EPS = (0.0, 0.5 / 255, 1 / 255, 2 / 255, 4 / 255, 8 / 255)
L2_EPS = (0.0, 0.05, 0.1, 0.25, 0.5)
DEFAULT_ALPHAS = (-10.0, -1.0, 0.0, 1.0, 10.0)


def fake_selectivity(alpha: float) -> float:
    """Noise-free network selectivity of the fake runs: rises monotonically with alpha."""
    return 0.35 + 0.3 * math.tanh(alpha / 3.0)


def fake_clean_accuracy(alpha: float) -> float:
    """Noise-free clean accuracy: falls for alpha > 0, a little for strongly negative alpha."""
    return 0.90 - 0.03 * math.log1p(max(alpha, 0.0)) - 0.005 * math.log1p(max(-alpha, 0.0))


def _spec(alpha: float, seed: int) -> dict[str, Any]:
    return {
        "dataset": "fashion-mnist", "model": "resnet20", "width": 1.0, "alpha": alpha,
        "seed": seed, "epochs": 3, "batch_size": 256, "lr": 0.1, "momentum": 0.9,
        "weight_decay": 0.0005, "schedule": "step", "milestones": [2], "warmup_epochs": 0,
        "augment": False, "limit_train": 2000, "limit_test": 500, "units": "default",
    }  # fmt: skip


def _eval_spec(corruptions: bool, attacks: bool, analyses: bool) -> dict[str, Any]:
    return {
        "limit_test": 500, "eval_batch_size": 256,
        "corruptions": list(CORRUPTION_NAMES) if corruptions else [],
        "severities": [1, 2, 3, 4, 5], "attacks": ["fgsm", "pgd"] if attacks else [],
        "norm": "linf", "epsilons": list(LINF_EPS), "pgd_steps": 10, "pgd_step_size": None,
        "pgd_restarts": 1, "analyses": ["dimensionality", "gradients"] if analyses else [],
        "analysis_samples": 500, "gradient_samples": 100, "analysis_severity": 3,
        "analysis_epsilon": 2 / 255,
    }  # fmt: skip


def _epochs(s: float, acc: float, n: int, rng: np.random.Generator, alpha: float) -> list[dict]:
    out = []
    for e in range(1, n + 1):
        frac = e / n
        layer_si = {name: round(s * (0.7 + 0.6 * i / (len(LAYERS) - 1)), 4) for i, name in
                    enumerate(LAYERS)}  # fmt: skip
        ce = 1.5 - 1.1 * frac + 0.02 * rng.standard_normal()
        out.append({
            "epoch": e, "train_loss": ce - alpha * s, "train_ce": ce, "selectivity_term": s,
            "train_accuracy": acc * (0.6 + 0.42 * frac), "test_accuracy": acc * (0.6 + 0.4 * frac),
            "selectivity_per_layer": layer_si, "mean_selectivity": s * (0.8 + 0.2 * frac),
            "seconds": 10.0 + rng.random(),
        })  # fmt: skip
    return out


def _corruptions(clean: float, s: float, sign: float, rng: np.random.Generator) -> list[dict]:
    rows = []
    for k, name in enumerate(CORRUPTION_NAMES):
        hardness = 0.1 + 0.4 * k / (len(CORRUPTION_NAMES) - 1)
        for sev in range(1, 6):
            effect = 0.95 + sign * (s - 0.35)  # more selective -> bigger drop (sign=+1)
            acc = clean * (1 - hardness * sev / 5 * effect) + 0.004 * rng.standard_normal()
            rows.append({"corruption": name, "family": FAMILY[name], "severity": sev,
                         "accuracy": float(np.clip(acc, 0, 1)), "n": 500})  # fmt: skip
    return rows


def _attacks(clean: float, s: float, sign: float, rng: np.random.Generator) -> list[dict]:
    rows = []
    scale = 0.9 + sign * (s - 0.35) * 1.5  # more selective -> flatter curves (sign=+1)
    for attack, norm, grid, base in (
        ("fgsm", "linf", LINF_EPS, 3.0 / 255),
        ("pgd", "linf", LINF_EPS, 2.0 / 255),
        ("pgd", "l2", L2_EPS, 0.15),
    ):
        for eps in grid:
            acc = clean * math.exp(-eps / (base * scale))
            if eps > 0:
                acc += 0.004 * rng.standard_normal()
            rows.append({"attack": attack, "norm": norm, "epsilon": eps,
                         "accuracy": float(np.clip(acc, 0, 1)), "n": 500})  # fmt: skip
    return rows


def _dimensionality(s: float, sign: float, rng: np.random.Generator) -> list[dict]:
    rows = []
    d = sign * (s - 0.35)
    for i, layer in enumerate(LAYERS):
        early = 1.0 - i / (len(LAYERS) - 1)  # 1 at the stem, 0 at the last block
        base = 12.0 + 6.0 * i
        clean = base * (1 - 1.5 * early * d)
        values = {
            ("clean", "none"): clean,
            ("corrupted", "corruptions@3"): clean * 1.05,
            ("adversarial", "pgd-linf@0.0078"): clean * 1.15,
            ("change_corrupted", "corruptions@3"): base * 0.5,
            ("change_adversarial", "pgd-linf@0.0078"): base * (0.5 + early * (0.6 - 1.2 * d)),
        }
        for (kind, pert), v in values.items():
            v *= 1 + 0.02 * rng.standard_normal()
            rows.append({"layer": layer, "input_kind": kind, "perturbation": pert,
                         "measure": "pca95", "value": float(max(1, round(v)))})  # fmt: skip
            rows.append({"layer": layer, "input_kind": kind, "perturbation": pert,
                         "measure": "participation_ratio", "value": float(v * 0.35)})  # fmt: skip
    return rows


def _gradients(s: float, sign: float, rng: np.random.Generator) -> list[dict]:
    rows = []
    d = sign * (s - 0.35)
    for i, layer in enumerate(LAYERS):
        for stat, base in (("across_samples", 0.45), ("across_units", 0.30)):
            v = base + 0.02 * i + 0.5 * d + 0.01 * rng.standard_normal()
            rows.append({"layer": layer, "statistic": stat, "value": float(v)})
    return rows


def _histograms(per_layer: dict[str, float]) -> dict[str, dict]:
    edges = [round(0.05 * i, 2) for i in range(21)]
    out = {}
    for layer, m in per_layer.items():
        centres = np.array(edges[:-1]) + 0.025
        w = np.exp(-0.5 * ((centres - m) / 0.12) ** 2)
        out[layer] = {"edges": edges, "counts": [int(c) for c in np.round(64 * w / w.sum())]}
    return out


def fake_metrics(
    alpha: float,
    seed: int,
    *,
    corruptions: bool = True,
    attacks: bool = True,
    analyses: bool = True,
    reverse: bool = False,
) -> dict[str, Any]:
    """metrics.json content of one complete, evaluated fake run."""
    rng = np.random.default_rng([seed, int(round(alpha * 1000)) % 2**32])
    sign = -1.0 if reverse else 1.0
    s = float(np.clip(fake_selectivity(alpha) + 0.01 * rng.standard_normal(), 0, 1))
    clean = float(fake_clean_accuracy(alpha) + 0.003 * rng.standard_normal())
    epochs = _epochs(s, clean - 0.004, 3, rng, alpha)
    per_layer = {k: float(np.clip(0.95 * v + 0.005 * rng.standard_normal(), 0, 1))
                 for k, v in epochs[-1]["selectivity_per_layer"].items()}  # fmt: skip
    evaluation: dict[str, Any] = {
        "spec": _eval_spec(corruptions, attacks, analyses),
        "clean_accuracy": clean,
        "n_test": 500,
        "selectivity": {
            "mean": float(np.mean(list(per_layer.values()))),
            "per_layer": per_layer,
            "histograms": _histograms(per_layer),
        },  # fmt: skip
        "corruptions": _corruptions(clean, s, sign, rng) if corruptions else [],
        "attacks": _attacks(clean, s, sign, rng) if attacks else [],
        "dimensionality": _dimensionality(s, sign, rng) if analyses else [],
        "gradients": _gradients(s, sign, rng) if analyses else [],
    }
    return {
        "status": "complete",
        "reason": None,
        "epochs": epochs,
        "mean_selectivity": epochs[-1]["mean_selectivity"],
        "test_accuracy": epochs[-1]["test_accuracy"],
        "evaluation": evaluation,
    }


def failed_metrics(alpha: float, seed: int) -> dict[str, Any]:
    """metrics.json of a run that stopped on a non-finite loss in its second epoch."""
    rng = np.random.default_rng(seed)
    epochs = _epochs(fake_selectivity(alpha), 0.5, 1, rng, alpha)
    return {
        "status": "failed",
        "reason": "non-finite loss (nan) in epoch 2; lower --lr or |alpha|",
        "epochs": epochs,
        "mean_selectivity": None,
        "test_accuracy": None,
    }


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1))


def _run_id(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def write_fake_runs(
    runs_dir: Path | str,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    seeds: Sequence[int] = (0, 1),
    *,
    failed: bool = True,
    corruptions: bool = True,
    attacks: bool = True,
    analyses: bool = True,
    reverse: bool = False,
) -> list[Path]:
    """Write ``len(alphas) * len(seeds)`` complete runs (+1 failed run at the largest alpha).

    Returns the run directories, complete runs first. The failed run uses seed
    ``max(seeds) + 1`` so it never shadows a complete run.
    """
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    dirs = []
    jobs = [(a, s, False) for a in alphas for s in seeds]
    if failed:
        jobs.append((max(alphas), max(seeds) + 1, True))
    for alpha, seed, fails in jobs:
        spec = _spec(float(alpha), int(seed))
        run = root / _run_id(spec)
        run.mkdir(exist_ok=True)
        _write_json(run / "spec.json", spec)
        _write_json(run / "meta.json", {"git_sha": "0" * 40, "device": "cpu", "argv": ["fake"]})
        if fails:
            metrics = failed_metrics(float(alpha), int(seed))
        else:
            metrics = fake_metrics(float(alpha), int(seed), corruptions=corruptions,
                                   attacks=attacks, analyses=analyses, reverse=reverse)  # fmt: skip
        _write_json(run / "metrics.json", metrics)
        dirs.append(run)
    return dirs
