"""Streaming statistics of input-unit gradients: the variability measures of
:mod:`selrob.analysis.gradients` (defined there), accumulated in float64.

Mean pairwise cosines use unit vectors ``v``: ``mean_{i != j} cos = (||sum_i v_i||^2 - m) /
(m (m - 1))``, so nothing is ``O(n^2)``; a zero gradient has no direction and is left out of
the cosines but counts as norm 0 in the coefficients of variation.
"""

from __future__ import annotations

import math

import torch

from selrob.errors import InvalidArgument

STATISTICS = (
    "across_samples_dissimilarity",
    "across_units_dissimilarity",
    "across_samples_norm_cv",
    "across_units_norm_cv",
)


class GradientVariability:
    """Streams a layer's gradients chunk by chunk of samples and unit by unit (float64).

    Per chunk: :meth:`begin_chunk` (``B`` samples), :meth:`add` each unit's ``(B, P)``
    gradients, :meth:`end_chunk`. Memory ``O(U P + B P)``; :meth:`statistics` gives the four
    values of the module docstring.
    """

    def __init__(
        self, num_units: int, num_features: int, device: torch.device | None = None
    ) -> None:
        kw = {"dtype": torch.float64, "device": device}
        self.dir_sum = torch.zeros(num_units, num_features, **kw)  # sum over samples of g/|g|
        self.nonzero = torch.zeros(num_units, **kw)
        self.norm1 = torch.zeros(num_units, **kw)
        self.norm2 = torch.zeros(num_units, **kw)
        self.n_samples = 0
        self.num_units = num_units
        self.units_dissim: list[torch.Tensor] = []  # per-sample values, NaN when undefined
        self.units_cv: list[torch.Tensor] = []
        self._chunk: tuple[torch.Tensor, ...] | None = None

    def begin_chunk(self, batch: int) -> None:
        kw = {"dtype": torch.float64, "device": self.dir_sum.device}
        p = self.dir_sum.shape[1]
        self._chunk = (torch.zeros(batch, p, **kw), *(torch.zeros(batch, **kw) for _ in range(3)))

    def add(self, unit: int, grads: torch.Tensor) -> None:
        """Gradients of unit ``unit`` for the chunk's samples: ``(B, P)`` (or ``(B, ...)``)."""
        g = grads.detach().flatten(1).to(self.dir_sum.device, torch.float64)
        r = g.norm(dim=1)
        v = g / r.clamp(min=torch.finfo(torch.float64).tiny).unsqueeze(1)
        v[r == 0] = 0.0
        nz = (r > 0).to(torch.float64)
        self.dir_sum[unit] += v.sum(0)
        self.nonzero[unit] += nz.sum()
        self.norm1[unit] += r.sum()
        self.norm2[unit] += (r * r).sum()
        s_dir, s_nz, s_r1, s_r2 = self._chunk
        s_dir += v
        s_nz += nz
        s_r1 += r
        s_r2 += r * r

    def end_chunk(self) -> None:
        s_dir, s_nz, s_r1, s_r2 = self._chunk
        self.n_samples += s_dir.shape[0]
        self.units_dissim.append(1.0 - _mean_pairwise_cos(s_dir, s_nz))
        self.units_cv.append(_cv(s_r1, s_r2, self.num_units))
        self._chunk = None

    def statistics(self) -> dict[str, float]:
        per_unit_dissim = 1.0 - _mean_pairwise_cos(self.dir_sum, self.nonzero)
        return {
            "across_samples_dissimilarity": _nanmean(per_unit_dissim),
            "across_units_dissimilarity": _nanmean(torch.cat(self.units_dissim)),
            "across_samples_norm_cv": _nanmean(_cv(self.norm1, self.norm2, self.n_samples)),
            "across_units_norm_cv": _nanmean(torch.cat(self.units_cv)),
        }


def _mean_pairwise_cos(dir_sum: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``(||sum v||^2 - m) / (m (m - 1))`` per row; NaN where ``m < 2``."""
    val = ((dir_sum * dir_sum).sum(1) - m) / (m * (m - 1)).clamp(min=1)
    return torch.where(m >= 2, val, torch.full_like(val, math.nan))


def _cv(s1: torch.Tensor, s2: torch.Tensor, n: int) -> torch.Tensor:
    mean = s1 / n
    std = (s2 / n - mean * mean).clamp(min=0).sqrt()
    return torch.where(mean > 0, std / mean.clamp(min=1e-300), torch.full_like(mean, math.nan))


def _nanmean(v: torch.Tensor) -> float:
    ok = ~torch.isnan(v)
    return float(v[ok].mean()) if bool(ok.any()) else math.nan


def variability_from_gradients(
    grads: torch.Tensor, batch_size: int | None = None
) -> dict[str, float]:
    """The four statistics of gradients ``(U, N, ...)`` held in memory (streamed in chunks)."""
    if grads.dim() < 3:
        raise InvalidArgument(f"grads must be (U, N, ...), got shape {tuple(grads.shape)}")
    u, n = grads.shape[:2]
    acc = GradientVariability(u, grads[0, 0].numel(), grads.device)
    step = batch_size or n
    for s in range(0, n, step):
        acc.begin_chunk(min(step, n - s))
        for j in range(u):
            acc.add(j, grads[j, s : s + step])
        acc.end_chunk()
    return acc.statistics()
