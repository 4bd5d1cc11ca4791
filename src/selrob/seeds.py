"""Every random stream of a run, derived from the run seed: one function per stream.

Each function returns the integer seed of a ``torch.Generator``
(``torch.Generator().manual_seed(s)``); nothing reads the global RNG. A stream's seed is the
first 63 bits of the SHA-256 of its name and indices (``"epoch/<run seed>/<epoch>"``), so no
two streams of any runs are seeded alike (a collision would need a SHA-256 collision on 63
bits; ``tests/test_seeds.py`` checks a large grid), and adding a stream never moves another.

Streams: model initialisation, each epoch's data order and augmentation and its
robustness-training draws, the noise of each
(corruption, severity, batch) cell, the attacks' random starts, and the analyses' subsets.
No torch import.
"""

from __future__ import annotations

import hashlib


def _seed(*parts: object) -> int:
    """63 bits of SHA-256 of ``"/".join(parts)`` (non-negative, below 2**63)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def init_seed(run_seed: int) -> int:
    """Initial weights of the run's model."""
    return _seed("init", run_seed)


def epoch_seed(run_seed: int, epoch: int) -> int:
    """Data order and augmentation of one (0-based) epoch."""
    return _seed("epoch", run_seed, epoch)


def train_perturbation_seed(run_seed: int, epoch: int) -> int:
    """The robustness-training draws of one (0-based) epoch: PGD starts, noise, corruptions."""
    return _seed("train-perturbation", run_seed, epoch)


def corruption_seed(run_seed: int, corruption: str, severity: int, batch: int) -> int:
    """Noise of one (corruption, severity, batch) cell of the corruption evaluation (and of
    ``selrob corrupt``, whose seed plays the run seed's part)."""
    return _seed("corruption", run_seed, corruption, severity, batch)


def pooled_corruption_seed(run_seed: int, corruption: str, severity: int, start: int) -> int:
    """Noise of the dimensionality analysis' pooled corruption sample, from image ``start``."""
    return _seed("pooled-corruption", run_seed, corruption, severity, start)


def attack_seed(run_seed: int, purpose: str = "evaluation") -> int:
    """Random starts of the attacks: ``"evaluation"`` (accuracy vs epsilon) or ``"dimensionality"``."""
    return _seed("attack", purpose, run_seed)


def gradient_units_seed(run_seed: int) -> int:
    """Which units the gradient analysis samples (when it samples)."""
    return _seed("gradient-units", run_seed)


def feature_subset_seed(run_seed: int) -> int:
    """Which flattened features the dimensionality analysis keeps beyond its budget."""
    return _seed("feature-subset", run_seed)
