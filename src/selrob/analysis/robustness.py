"""Average-case robustness: accuracy under corruptions, generated on the fly batch by batch.

No corrupted copy of the dataset is ever held in memory: each clean batch is corrupted,
classified and dropped. The noise of (corruption, severity, batch) comes from a generator
seeded by (seed, corruption index, severity, batch index), so results do not depend on which
other corruptions or severities are evaluated in the same call. Worst-case (adversarial)
accuracy lives in :mod:`selrob.analysis.adversarial`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from selrob.data import ImageDataset, batches
from selrob.models.common import eval_mode
from selrob.perturb.corruptions import CORRUPTIONS, corrupt


def corruption_generator(seed: int, corruption: str, severity: int, batch: int) -> torch.Generator:
    """The generator for one (corruption, severity, batch) cell."""
    k = CORRUPTIONS.index(corruption) if corruption in CORRUPTIONS else 99
    return torch.Generator().manual_seed(((seed * 100 + k) * 10 + severity) * 1_000_003 + batch)


@torch.no_grad()
def accuracy(
    model: torch.nn.Module, data: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[float, int]:
    """(accuracy, n) of ``model`` over (x in [0, 1], y) batches, in eval mode."""
    correct = n = 0
    with eval_mode(model):
        for x, y in data:
            correct += int((model(x).argmax(1) == y).sum())
            n += int(y.shape[0])
    return correct / max(n, 1), n


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
) -> list[dict[str, Any]]:
    """Accuracy of ``model`` on ``dataset`` under each corruption x severity.

    Returns tidy records ``{"corruption", "severity", "accuracy", "n"}``, plus one record with
    ``corruption == "clean"`` and ``severity == 0`` holding the clean accuracy.
    """
    clean, n = accuracy(model, batches(dataset, batch_size, device=device))
    records: list[dict[str, Any]] = [
        {"corruption": "clean", "severity": 0, "accuracy": clean, "n": n}
    ]
    for name in tqdm(
        corruptions, desc="corruptions", unit="corruption", disable=not progress, leave=False
    ):
        for sev in severities:
            corrupted = (
                (corrupt(x, name, sev, generator=corruption_generator(seed, name, sev, b)), y)
                for b, (x, y) in enumerate(batches(dataset, batch_size, device=device))
            )
            acc, total = accuracy(model, corrupted)
            records.append({"corruption": name, "severity": int(sev), "accuracy": acc, "n": total})
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
) -> list[dict[str, Any]]:
    """Accuracy on a pre-made corrupted set; ``load(corruption, severity)`` returns its images.

    Same tidy records as :func:`corruption_accuracy` (without the clean record).
    """
    records = []
    for name in tqdm(
        corruptions, desc="corruptions", unit="corruption", disable=not progress, leave=False
    ):
        for sev in severities:
            acc, n = accuracy(
                model, batches(load(name, sev).subset(limit), batch_size, device=device)
            )
            records.append({"corruption": name, "severity": int(sev), "accuracy": acc, "n": n})
    return records


def summarize_corruptions(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean corrupted accuracy over every (corruption, severity) and the drop from clean."""
    clean = [r["accuracy"] for r in records if r["corruption"] == "clean"]
    corr = [r["accuracy"] for r in records if r["corruption"] != "clean"]
    mean = sum(corr) / len(corr) if corr else float("nan")
    return {
        "mean_corrupted_accuracy": mean,
        "corruption_drop": (clean[0] - mean) if clean and corr else float("nan"),
    }
