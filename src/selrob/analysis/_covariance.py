"""The covariance spectrum of a stream of activation batches, exact up to rounding.

:class:`StreamingCovariance` never holds more than ``min(n D, D^2)`` numbers per
representation: the rows while there are fewer of them than features (the ``n x n`` Gram
route), then a ``D x D`` ``X^T X`` accumulator (BLAS ``syrk`` on CPU: one triangle, half the
multiply-adds). :func:`feature_subset` draws the fixed random coordinates kept when a layer
has more features than a budget.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from scipy.linalg.blas import dsyrk, ssyrk

from selrob.errors import InvalidArgument


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _eigvalsh(m: torch.Tensor) -> torch.Tensor:
    """``eigvalsh`` of a symmetric matrix, decreasing. On the CPU, matrices up to 4096 are
    decomposed on one thread: with two threads on a shared 2-core machine the LAPACK call
    stalled erratically, while one thread was as fast as two at their best
    (``benchmarks/analyses.py``).
    """
    if m.device.type != "cpu" or m.shape[0] > 4096:
        return torch.linalg.eigvalsh(m).flip(0)
    with _one_thread():
        return torch.linalg.eigvalsh(m).flip(0)


def feature_subset(
    num_features: int, max_features: int | None, generator: torch.Generator | None = None
) -> torch.Tensor | None:
    """Sorted random subset of ``max_features`` of ``range(num_features)``, or None (keep all).

    Deterministic given the generator's state; ``generator=None`` uses a fresh one seeded 0.
    """
    if max_features is None or num_features <= max_features:
        return None
    if max_features < 1:
        raise InvalidArgument(f"max_features must be >= 1, got {max_features}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    return torch.randperm(num_features, generator=gen)[:max_features].sort().values


class StreamingCovariance:
    """Covariance spectrum of a stream of ``(B, D)`` batches, exact up to rounding.

    While fewer than ``K`` samples have been seen, the (float32) rows are kept and the spectrum
    comes from the ``n x n`` Gram matrix of the centred rows (memory ``n K``); from the ``K``-th
    sample on, the rows are folded into float64 column sums and ``X^T X`` (memory ``K^2``) of
    the data shifted by the rows' mean (the shift avoids cancellation in
    ``X^T X - n m m^T``). Either way the eigenvalues equal :func:`explained_variance` of the
    concatenated batches. Features: all ``D``, or the coordinates ``index`` if given, or else
    a random subset of ``max_features`` when ``D > max_features`` (see :func:`feature_subset`).

    ``dtype`` is the accumulator's (float64 by default). ``float32`` halves the memory and the
    cost of the ``X^T X`` products, at a relative error of order ``1e-6``
    of the largest eigenvalue; :func:`layer_dimensionality` uses it (see its docstring).
    """

    def __init__(
        self,
        num_features: int,
        max_features: int | None = None,
        generator: torch.Generator | None = None,
        index: torch.Tensor | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if dtype not in (torch.float32, torch.float64):
            raise InvalidArgument(f"accumulation dtype must be float32 or float64, got {dtype}")
        self.dtype = dtype
        self.num_features = num_features
        if index is None:
            index = feature_subset(num_features, max_features, generator)
        self.k = num_features if index is None else int(index.numel())
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.index = index.to(self.device) if index is not None else None
        self.n = 0
        self.rows: list[torch.Tensor] | None = []
        self.shift = self.sum = self.xtx = None

    @property
    def nbytes(self) -> int:
        """Bytes held now (rows while ``n < K``, else the ``K x K`` accumulator)."""
        if self.rows is not None:
            return sum(r.numel() * r.element_size() for r in self.rows)
        return (self.k + 2) * self.k * self.dtype.itemsize

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Add a batch ``x (B, D)`` (any float dtype, any device)."""
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise InvalidArgument(
                f"expected a (B, {self.num_features}) batch, got {tuple(x.shape)}; flatten features first"
            )
        x = x.detach().to(self.device)
        if self.index is not None:
            x = x.index_select(1, self.index)
        self.n += x.shape[0]
        if self.rows is not None:
            self.rows.append(x.to(torch.float32, copy=True))
            if self.n >= self.k:  # from here on the K x K accumulator is the smaller one
                held = torch.cat(self.rows).to(self.dtype)
                self.rows = None
                self.shift = held.mean(0)
                self.sum = torch.zeros(self.k, dtype=torch.float64, device=self.device)
                self.xtx = torch.zeros(self.k, self.k, dtype=self.dtype, device=self.device)
                self._accumulate(held)
            return
        self._accumulate(x.to(self.dtype))

    def _accumulate(self, x: torch.Tensor) -> None:
        x = x - self.shift
        self.sum += x.sum(0, dtype=torch.float64)
        if self.xtx.device.type == "cpu":
            _syrk_lower(self.xtx, x)
        else:
            self.xtx.addmm_(x.T, x)

    def _check_n(self) -> None:
        if self.n < 2:
            raise InvalidArgument(
                f"a covariance needs at least 2 samples, got {self.n}; stream more data"
            )

    def covariance(self) -> torch.Tensor:
        """Unbiased ``(K, K)`` float64 covariance of everything seen (needs ``n >= 2``)."""
        self._check_n()
        if self.rows is not None:
            x = torch.cat(self.rows).to(torch.float64)
            x = x - x.mean(0)
            return x.T @ x / (self.n - 1)
        mean = self.sum / self.n
        xtx = self.xtx
        if xtx.device.type == "cpu":  # only the lower triangle is accumulated (_syrk_lower)
            xtx = xtx.tril() + xtx.tril(-1).T
        return (xtx.to(torch.float64) - self.n * torch.outer(mean, mean)) / (self.n - 1)

    def eigenvalues(self) -> torch.Tensor:
        """Covariance eigenvalues, decreasing, float64, length ``min(n, K)``, on the CPU.

        The ``n x n`` Gram matrix of the centred rows while ``n < K``, else the ``K x K``
        covariance; either is formed and decomposed in the accumulator's dtype (float32:
        faster, error of order 1e-6 of the largest eigenvalue, like the accumulation itself)."""
        self._check_n()
        if self.rows is not None:  # Gram route: n x n, in the accumulator's dtype
            x = torch.cat(self.rows).to(torch.float64)
            x = (x - x.mean(0)).to(self.dtype)  # centred in float64, multiplied in dtype
            eig = _eigvalsh(x @ x.T / (self.n - 1))
        else:
            eig = _eigvalsh(self.covariance().to(self.dtype))
        return eig.to(torch.float64).clamp(min=0).cpu()[: min(self.n, self.k)]


def _syrk_lower(c: torch.Tensor, x: torch.Tensor) -> None:
    """``c += x^T x`` on the lower triangle of the CPU matrix ``c (K, K)``, in place.

    BLAS ``syrk`` (scipy's binding) computes one triangle: half the multiply-adds of
    ``addmm_``, the largest cost of the dimensionality analysis on large samples. ``c`` is
    row-major, so its lower triangle is the upper one of the column-major ``c.T`` that BLAS
    sees.
    """
    fn = ssyrk if c.dtype == torch.float32 else dsyrk
    ct = c.numpy().T  # a column-major view of c: BLAS writes into it
    out = fn(1.0, x.contiguous().numpy().T, beta=1.0, c=ct, trans=0, lower=0, overwrite_c=1)
    if not np.shares_memory(out, ct):  # the binding copied after all: write the result back
        c.copy_(torch.from_numpy(np.ascontiguousarray(out.T)))
