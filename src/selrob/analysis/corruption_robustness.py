"""Average-case robustness: accuracy under corruptions, generated on the fly batch by batch.

No corrupted copy of the dataset is ever held in memory: each clean batch is corrupted,
classified and dropped. The noise of (corruption, severity, block) comes from a generator
seeded by :func:`selrob.seeds.corruption_seed`, one per fixed block of :data:`NOISE_BLOCK`
images, so results depend neither on which other corruptions or severities are evaluated in
the same call nor on the batch size of the forward passes. Worst-case (adversarial) accuracy
lives in :mod:`selrob.analysis.adversarial_robustness`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from selrob.data import ImageDataset, batches, rebatch
from selrob.models.common import accuracy, peek
from selrob.models.fold import frozen_for
from selrob.perturb.corruptions import FAMILIES, corrupt
from selrob.seeds import corruption_seed, pooled_corruption_seed

NOISE_BLOCK = 256
"""Images per corruption-noise generator: block b holds test images [256 b, 256 (b + 1))."""


def corruption_generator(seed: int, corruption: str, severity: int, batch: int) -> torch.Generator:
    """The generator for one (corruption, severity, batch) cell of run seed ``seed``."""
    return torch.Generator().manual_seed(corruption_seed(seed, corruption, severity, batch))


@torch.no_grad()
def corruption_accuracy(
    model: torch.nn.Module,
    dataset: ImageDataset,
    corruptions: Sequence[str],
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
    autocast: torch.dtype | None = None,
) -> list[dict[str, Any]]:
    """Accuracy of ``model`` on ``dataset`` under each corruption x severity.

    ``autocast``: classify under ``torch.autocast`` in that dtype (bfloat16: about 1.8x faster
    on CPUs with bf16 instructions); the corruptions themselves are computed in float32.
    ``batch_size`` sets the forward passes only (the noise is drawn per :data:`NOISE_BLOCK`).

    Returns tidy records ``{"corruption", "severity", "accuracy", "n"}`` (accuracy a fraction
    of ``n`` images), plus one record with ``corruption == "clean"`` and ``severity == 0``
    holding the clean accuracy.
    """
    first, data = peek(batches(dataset, batch_size, device=device))
    if first is not None:  # forward passes only: a frozen BN-folded copy, built once
        model = frozen_for(model, first[0])
    clean, n = accuracy(model, data, autocast=autocast)
    records: list[dict[str, Any]] = [
        {"corruption": "clean", "severity": 0, "accuracy": clean, "n": n}
    ]
    for name in tqdm(
        corruptions, desc="corruptions", unit="corruption", disable=not progress, leave=False
    ):
        for sev in severities:
            corrupted = (  # drawn per noise block, classified per batch_size
                (corrupt(x, name, sev, generator=corruption_generator(seed, name, sev, b)), y)
                for b, (x, y) in enumerate(batches(dataset, NOISE_BLOCK, device=device))
            )
            acc, total = accuracy(model, rebatch(corrupted, batch_size), autocast=autocast)
            records.append({"corruption": name, "family": family_of(name), "severity": int(sev),
                            "accuracy": acc, "n": total})  # fmt: skip
    return records


@torch.no_grad()
def published_corruption_accuracy(
    model: torch.nn.Module,
    load: Callable[[str, int], ImageDataset],
    corruptions: Sequence[str],
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    limit: int | None = None,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    progress: bool = False,
    autocast: torch.dtype | None = None,
) -> list[dict[str, Any]]:
    """Accuracy on a pre-made corrupted set; ``load(corruption, severity)`` returns its images.

    Same tidy records as :func:`corruption_accuracy` (without the clean record).
    """
    records = []
    net = None
    for name in tqdm(
        corruptions, desc="corruptions", unit="corruption", disable=not progress, leave=False
    ):
        for sev in severities:
            first, data = peek(batches(load(name, sev).subset(limit), batch_size, device=device))
            if net is None and first is not None:  # a frozen BN-folded copy, built once
                net = frozen_for(model, first[0])
            acc, n = accuracy(net or model, data, autocast=autocast)
            records.append({"corruption": name, "family": family_of(name), "severity": int(sev),
                            "accuracy": acc, "n": n})  # fmt: skip
    return records


def pooled_corruption(
    names: Sequence[str], severity: int, seed: int
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A perturbation giving image i of the stream corruption ``names[i % K]`` at ``severity``:
    an equal mix of the whole suite in one sample the size of the clean one.

    Returns ``fn(x (B, C, H, W), y) -> x_corrupted``, stateful: it counts the images seen, so
    consecutive batches continue the cycle and draw noise from their own generators.
    """
    state = {"start": 0}

    def fn(x: torch.Tensor, _y: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        which = (torch.arange(x.shape[0]) + state["start"]) % len(names)
        for k, name in enumerate(names):
            idx = (which == k).nonzero().flatten()
            if len(idx):
                start = state["start"]
                gen = torch.Generator().manual_seed(
                    pooled_corruption_seed(seed, name, severity, start)
                )
                out[idx.to(x.device)] = corrupt(x[idx.to(x.device)], name, severity, generator=gen)
        state["start"] += x.shape[0]
        return out

    return fn


def family_of(corruption: str) -> str:
    """The benchmark family of a corruption: noise, blur, weather, digital, or extra."""
    return next((f for f, names in FAMILIES.items() if corruption in names), "other")


def summarize_corruptions(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean corrupted accuracy over every (corruption, severity), the drop from clean, the
    relative corrupted accuracy (mean / clean) and the mean per family."""
    clean = [r["accuracy"] for r in records if r["corruption"] == "clean"]
    corr = [r for r in records if r["corruption"] != "clean"]
    nan = float("nan")
    mean = sum(r["accuracy"] for r in corr) / len(corr) if corr else nan
    families: dict[str, list[float]] = {}
    for r in corr:
        families.setdefault(family_of(r["corruption"]), []).append(r["accuracy"])
    return {
        "mean_corrupted_accuracy": mean,
        "corruption_drop": (clean[0] - mean) if clean and corr else nan,
        "relative_corrupted_accuracy": mean / clean[0] if clean and corr and clean[0] > 0 else nan,
        "corrupted_accuracy_by_family": {f: sum(v) / len(v) for f, v in families.items()},
    }
