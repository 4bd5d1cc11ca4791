"""Input-unit gradients and their variability (Leavitt & Morcos 2020, "Input-unit gradients").

For an input ``x`` and a unit ``u`` (one channel of a recorded layer, averaged over its spatial
positions, :mod:`selrob.units`), ``g_u(x) = d a_u(x) / d x`` has the shape of ``x``. The model
runs in eval mode, so BatchNorm is a fixed affine map and samples are independent: the gradient
of ``sum_i a_u(x_i)`` w.r.t. the batch holds every per-sample gradient, one backward per unit.

Two routes compute the same gradients: ``method="loop"`` (one forward with the graph kept,
then one ``autograd.grad`` per unit; the default, the faster on CPU in
``benchmarks/analyses.py``) and ``method="vmap"`` (``torch.func.vjp`` per layer, vmapped over
one-hot cotangents in chunks of units). Both run on a frozen copy of the model with batch norm
folded into its convolutions (:func:`selrob.models.fold.inference_copy`). The cost is one
backward per unit to its layer, so deep layers dominate.

Variability (the paper's words are "more variable across samples and across units"; it does
not name one statistic, ``docs/method.md`` argues the primary one). Per layer we report, for
gradient vectors ``g[u, n]``:

- ``across_samples_dissimilarity``: for each unit, the mean pairwise cosine dissimilarity
  ``1 - cos(g[u, i], g[u, j])`` over pairs of samples ``i != j``, averaged over units;
- ``across_units_dissimilarity``: for each sample, the same over pairs of units, averaged
  over samples;
- ``across_samples_norm_cv`` / ``across_units_norm_cv``: the coefficient of variation
  (population std / mean) of the gradient L2 norms across samples (per unit) or across units
  (per sample), averaged over units or samples.

The dissimilarities capture *direction* (which input pixels a unit is sensitive to), the CVs
*magnitude*; a raw variance of gradient entries would mix both and scale with the network's
gain, so it is not reported. Mean pairwise cosines use unit vectors ``v``:
``mean_{i != j} cos = (||sum_i v_i||^2 - m) / (m (m - 1))``, so nothing is ``O(n^2)``. A zero
gradient (unit inactive at that input) has no direction: it is left out of the cosine
statistics (units or samples with fewer than two non-zero gradients are skipped) but counts
as norm 0 in the CVs. A statistic with nothing to average is NaN. Units can be subsampled per
layer (``max_units``, seeded) to bound the cost, which is ``units x backward`` per layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from selrob.analysis._gradient_stats import (
    STATISTICS,
    GradientVariability,
    variability_from_gradients,
)
from selrob.errors import InvalidArgument
from selrob.models.common import eval_mode
from selrob.models.fold import inference_copy
from selrob.units import UnitRecorder, unit_counts, unit_layer_names

__all__ = [
    "METHODS",
    "STATISTICS",
    "GradientVariability",
    "gradient_variability",
    "input_unit_gradients",
    "variability_from_gradients",
]

METHODS = ("loop", "vmap")


class _Stop(Exception):
    """Raised by a hook once every requested layer is recorded (skips the rest of the forward)."""


def _record(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Forward ``x`` and return ``{name: (N, U) spatial-mean activations}`` with the graph."""
    modules = dict(model.named_modules())
    with UnitRecorder(model, ",".join(names)) as rec:
        handles = []

        def stop(*_: object) -> None:
            if all(n in rec.acts for n in names):
                raise _Stop

        try:
            handles = [modules[n].register_forward_hook(stop) for n in names]
            model(x)
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
    return {n: rec.acts[n] for n in names}


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidArgument(f"method must be one of {METHODS}, got {method!r}")


def _grads_loop(model: nn.Module, x: torch.Tensor, units: dict[str, torch.Tensor]):  # noqa: ANN202
    """Yield ``(layer, j, (B, *x.shape[1:]))`` for unit ``units[layer][j]``: one forward for
    all layers (graph kept), then one backward per unit. No grad-mode context is held across
    a ``yield``, so the caller's mode is untouched while it consumes the gradients."""
    xx = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        acts = _record(model, xx, list(units))
    todo = [(name, j, u) for name, us in units.items() for j, u in enumerate(us.tolist())]
    for i, (name, j, u) in enumerate(todo):
        with torch.enable_grad():
            target = acts[name][:, u].sum()
        (g,) = torch.autograd.grad(target, xx, retain_graph=i + 1 < len(todo))
        yield name, j, g


def _grads_vmap(
    model: nn.Module, x: torch.Tensor, layer: str, units: torch.Tensor, chunk_size: int
):  # noqa: ANN202
    """Same as :func:`_grads_loop` via ``torch.func.vjp`` vmapped over one-hot cotangents."""

    def f(inp: torch.Tensor) -> torch.Tensor:
        return _record(model, inp, [layer])[layer][:, units.to(inp.device)]

    # An outer no_grad stops ordinary autograd from also tracing the weights; the transform
    # itself ignores it (torch.func docs, "grad inside torch.no_grad").
    with torch.no_grad():
        out, vjp_fn = torch.func.vjp(f, x.detach())
    k = len(units)
    for start in range(0, k, chunk_size):
        stop = min(start + chunk_size, k)
        cot = torch.zeros(stop - start, *out.shape, dtype=out.dtype, device=out.device)
        cot[torch.arange(stop - start), :, torch.arange(start, stop)] = 1.0
        with torch.no_grad():
            (grads,) = torch.func.vmap(vjp_fn)(cot)
        for j in range(stop - start):
            yield start + j, grads[j]


def _unit_grads(model, x, units, method, chunk_size):  # noqa: ANN001, ANN202
    """Yield ``(layer, j, grads (B, ...))`` for every ``units[layer][j]`` by either route."""
    if method == "loop":
        yield from _grads_loop(model, x, units)
        return
    for name, us in units.items():
        for j, g in _grads_vmap(model, x, name, us, chunk_size):
            yield name, j, g


def input_unit_gradients(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    units: Sequence[int] | torch.Tensor | None = None,
    *,
    method: str = "loop",
    chunk_size: int = 16,
) -> torch.Tensor:
    """``d a_u(x_n) / d x_n`` for the units ``units`` (default: all) of module ``layer``.

    x: (N, C, H, W) float. Returns ``(U, N, C, H, W)`` in x's dtype. The model is put in eval
    mode for the call (restored afterwards); its parameters are left untouched.
    """
    _check_method(method)
    with eval_mode(model):
        if units is None:
            with torch.no_grad():
                units = torch.arange(_record(model, x[:1], [layer])[layer].shape[1])
        units = torch.as_tensor(units, dtype=torch.long)
        out = torch.empty(len(units), *x.shape, dtype=x.dtype, device=x.device)
        net = inference_copy(model, x[:16])
        for _name, j, g in _unit_grads(net, x, {layer: units}, method, chunk_size):
            out[j] = g
        return out


def gradient_variability(
    model: nn.Module,
    x: torch.Tensor,
    *,
    units: str = "default",
    method: str = "loop",
    batch_size: int = 100,
    max_units: int | None = None,
    chunk_size: int = 16,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[dict]:
    """Input-unit gradient variability of every recorded layer for the inputs ``x``.

    x: (N, C, H, W) float in [0, 1] (on the model's device), processed ``batch_size`` samples
    at a time. ``max_units``: per layer, use a random subset of that many units (drawn from
    ``generator``, a fresh one seeded 0 by default). Returns tidy records
    ``{"layer", "statistic", "value"}`` for the four :data:`STATISTICS`.
    """
    _check_method(method)
    if x.shape[0] < 2 or batch_size < 1:
        raise InvalidArgument("gradient variability needs at least 2 samples and batch_size >= 1")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    names = unit_layer_names(model, units)
    with eval_mode(model):
        with torch.no_grad():
            counts = unit_counts(model, x[:1], units)
        chosen = {}
        for name in names:
            perm = torch.randperm(counts[name], generator=gen)
            chosen[name] = (
                perm[:max_units].sort().values if max_units else torch.arange(counts[name])
            )
        accs = {n: GradientVariability(len(chosen[n]), x[0].numel(), x.device) for n in names}
        net = inference_copy(model, x[:16])
        starts = range(0, x.shape[0], batch_size)
        for s in tqdm(starts, desc="gradients", disable=not progress, leave=False):
            xb = x[s : s + batch_size]
            for acc in accs.values():
                acc.begin_chunk(xb.shape[0])
            for name, j, g in _unit_grads(net, xb, chosen, method, chunk_size):
                accs[name].add(j, g)
            for acc in accs.values():
                acc.end_chunk()
    return [
        {"layer": name, "statistic": stat, "value": value}
        for name in names
        for stat, value in accs[name].statistics().items()
    ]
