"""The streaming covariance accumulator against numpy and the in-memory spectrum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.low_rank import low_rank_plus_noise, sk_pca

from selrob.analysis._covariance import _syrk_lower
from selrob.analysis.dimensionality import (
    StreamingCovariance,
    components_for_variance,
    explained_variance,
    feature_subset,
)
from selrob.errors import InvalidArgument


@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("d", [40, 300])  # switches to X^T X mid-batch; stays on the Gram route
def test_streamed_equals_in_memory(offset: float, d: int) -> None:
    x = torch.from_numpy(low_rank_plus_noise(250, d, rank=6, noise=0.5, seed=2)).float() + offset
    acc = StreamingCovariance(d)
    for chunk in torch.split(x, [1, 60, 100, 89]):
        acc.update(chunk)
    assert (acc.rows is None) == (d <= 250)
    ref = explained_variance(x)
    np.testing.assert_allclose(
        acc.eigenvalues().numpy(), ref.numpy(), rtol=1e-7, atol=1e-9 * float(ref[0])
    )
    np.testing.assert_allclose(
        acc.covariance().numpy(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-7, atol=1e-9
    )


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_float32_accumulation_is_close_to_numpy(offset: float) -> None:
    """The float32 accumulator (the default of layer_dimensionality) vs numpy's float64 PCA."""
    x = low_rank_plus_noise(3000, 120, rank=15, noise=0.3, seed=4) + offset
    acc = StreamingCovariance(120, dtype=torch.float32)
    for chunk in torch.split(torch.from_numpy(x).float(), 500):
        acc.update(chunk)
    ref = np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1]
    got = acc.eigenvalues().numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * ref[0])
    assert components_for_variance(acc.eigenvalues()) == sk_pca(x, 0.95).n_components_
    assert acc.xtx.dtype == torch.float32 and acc.nbytes == 122 * 120 * 4
    with pytest.raises(InvalidArgument, match="float32 or float64"):
        StreamingCovariance(5, dtype=torch.float16)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_syrk_update_writes_the_lower_triangle_in_place(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(0)
    c0, x = rng.standard_normal((7, 7)), rng.standard_normal((5, 7))
    c = torch.tensor(c0, dtype=dtype)
    ptr = c.data_ptr()
    _syrk_lower(c, torch.tensor(x, dtype=dtype))
    want = c0 + x.T @ x
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert c.data_ptr() == ptr
    np.testing.assert_allclose(np.tril(c.double().numpy()), np.tril(want), rtol=tol, atol=tol)
    np.testing.assert_allclose(np.triu(c.double().numpy(), 1), np.triu(c0, 1), rtol=tol)


def test_feature_subset_is_deterministic_and_documented_shape() -> None:
    a = feature_subset(1000, 64, torch.Generator().manual_seed(5))
    b = feature_subset(1000, 64, torch.Generator().manual_seed(5))
    c = feature_subset(1000, 64, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (
        a.numel() == 64 == a.unique().numel() and bool((a.diff() > 0).all()) and int(a.max()) < 1000
    )
    assert torch.equal(feature_subset(1000, 64), feature_subset(1000, 64))  # default seed 0
    assert feature_subset(50, 64) is None


def test_streaming_with_subsample_equals_pca_of_the_kept_columns() -> None:
    x = torch.randn(120, 300, generator=torch.Generator().manual_seed(0))
    acc = StreamingCovariance(300, max_features=40, generator=torch.Generator().manual_seed(9))
    idx = feature_subset(300, 40, torch.Generator().manual_seed(9))
    assert torch.equal(acc.index, idx)
    for chunk in torch.split(x, 50):
        acc.update(chunk)
    np.testing.assert_allclose(
        acc.eigenvalues().numpy(), explained_variance(x[:, idx]).numpy(), rtol=1e-8
    )
