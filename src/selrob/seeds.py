"""Every random stream of a run, derived from the run seed: one function per stream.

Functions return the integer seed of a ``torch.Generator`` (``torch.Generator().manual_seed(s)``);
nothing reads the global RNG. Streams: model initialisation, each epoch's data order and
augmentation, the corruption noise of each (corruption, severity, batch) cell, the attacks'
random starts, and the analyses' subsets. No torch import.
"""

from __future__ import annotations

_CORRUPTION_ORDER = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)  # fmt: skip


def init_seed(run_seed: int) -> int:
    """Initial weights of the run's model."""
    return run_seed


def epoch_seed(run_seed: int, epoch: int) -> int:
    """Data order and augmentation of one (0-based) epoch."""
    return run_seed * 1_000_003 + epoch


def corruption_seed(run_seed: int, corruption: str, severity: int, batch: int) -> int:
    """Noise of one (corruption, severity, batch) cell of the corruption evaluation."""
    k = _CORRUPTION_ORDER.index(corruption) if corruption in _CORRUPTION_ORDER else 99
    return ((run_seed * 100 + k) * 10 + severity) * 1_000_003 + batch


def pooled_corruption_seed(run_seed: int, corruption: str, severity: int, start: int) -> int:
    """Noise of the pooled corruption sample of the dimensionality analysis, from image ``start``."""
    return corruption_seed(run_seed, corruption, severity, 10_000 + start)


def attack_seed(run_seed: int, purpose: str = "evaluation") -> int:
    """Random starts of the attacks: ``"evaluation"`` (accuracy vs epsilon) or ``"dimensionality"``."""
    return (run_seed + (purpose == "dimensionality")) * 1_000_003 + 7


def gradient_units_seed(run_seed: int) -> int:
    """Which units the gradient analysis samples (when it samples)."""
    return run_seed


def feature_subset_seed(run_seed: int) -> int:
    """Which flattened features the dimensionality analysis keeps beyond its budget."""
    return 0
