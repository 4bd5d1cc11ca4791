"""Data with a planted low-rank structure, and scikit-learn's PCA as the oracle."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits


def low_rank_plus_noise(n: int, d: int, rank: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.linspace(3.0, 1.0, rank)
    z = rng.standard_normal((n, rank)) * scales
    return z @ rng.standard_normal((rank, d)) + noise * rng.standard_normal((n, d)) + 5.0


def sk_pca(x: np.ndarray, n_components: float | None = None) -> PCA:
    """scikit-learn's full-SVD PCA (one BLAS thread: threaded LAPACK stalls on a busy machine)."""
    with threadpool_limits(1):
        return PCA(n_components=n_components, svd_solver="full").fit(x)
