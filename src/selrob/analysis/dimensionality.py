"""Dimensionality of layer representations (Leavitt & Morcos 2020, section "Dimensionality").

The dimensionality of a set of activations ``X (N, D)`` is the number of principal components
needed to explain a fraction ``threshold`` (0.95 in the paper) of the variance of the centred
data: the smallest ``k`` with ``sum(l[:k]) >= threshold * sum(l)`` for the covariance
eigenvalues ``l`` sorted in decreasing order. scikit-learn's ``PCA(n_components=0.95)`` uses a
strict ``>``; the two differ only on exact ties. The participation ratio
``(sum l)^2 / sum l^2`` (Gao et al. 2017) is reported alongside as a threshold-free measure.
An all-constant representation (e.g. a dead layer) has dimensionality 0 and ratio 0.

Features. The paper computes PCA on a layer's *flattened* activations (every channel at every
spatial position is one feature), so ``features="flatten"`` is the default; ``"spatial_mean"``
uses the units of :mod:`selrob.units` (one feature per channel, averaged over positions).

The feature budget. Flattened early layers are large (resnet20 at 28 px: 16x28x28 = 12544
features). The accumulator (:mod:`selrob.analysis._covariance`) is exact; memory is
``min(n D x 4, D^2 x 4)`` bytes per layer and representation in float32. With
``max_features=None`` nothing is approximated, which fits a few thousand inputs. Beyond
that, when ``D > max_features`` (default 2048) a fixed random subset of ``max_features``
coordinates is kept, drawn once per layer from a seeded ``torch.Generator`` and shared by the
clean, perturbed and change representations, so all three are measured on the same
coordinates. Subsampling biases the count low (``docs/method.md`` quantifies it); compare
networks at one fixed budget, and prefer ``max_features=None`` when the inputs are few enough.

Perturbations. :func:`layer_dimensionality` takes ``{label: (input_kind, fn)}`` with
``fn(x, y) -> x_perturbed``; for each it reports the perturbed representation (``input_kind``)
and the change, perturbed minus clean activations of the same inputs (``"change_" + kind``).
Clean activations are computed once per batch and reused for every perturbation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from selrob.analysis._covariance import StreamingCovariance, _eigvalsh, feature_subset
from selrob.errors import InvalidArgument
from selrob.models.common import eval_mode, model_device
from selrob.models.fold import inference_copy
from selrob.units import UnitRecorder

__all__ = [
    "DEFAULT_MAX_FEATURES",
    "StreamingCovariance",
    "components_for_variance",
    "explained_variance",
    "feature_subset",
    "layer_dimensionality",
    "participation_ratio",
    "participation_ratio_of",
    "pca_dimensionality",
]

DEFAULT_MAX_FEATURES = 2048
FEATURES = ("flatten", "spatial_mean")
PerturbFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_acts(acts: torch.Tensor) -> torch.Tensor:
    if acts.dim() != 2 or acts.shape[0] < 2:
        raise InvalidArgument(
            f"activations must be (N >= 2, D), got shape {tuple(acts.shape)}; flatten to (N, D) first"
        )
    return acts.detach().to(torch.float64)


def explained_variance(acts: torch.Tensor) -> torch.Tensor:
    """Covariance eigenvalues of ``acts (N, D)``, decreasing, float64, length ``min(N, D)``.

    Route by shape, both through ``eigvalsh``: for ``N >= D`` the ``D x D`` covariance
    (``O(N D^2 + D^3)``, the computation :class:`StreamingCovariance` streams); for ``D > N``
    the ``N x N`` Gram matrix of the centred rows, which has the same non-zero eigenvalues
    (``O(N^2 D)``, never forming ``D x D``). The Gram route replaces a centred SVD (much
    faster, ``benchmarks/analyses.py``), and squaring the
    singular values only loses eigenvalues below ``1e-16 x`` the largest, which no variance
    fraction can see.
    """
    x = _check_acts(acts)
    n, d = x.shape
    x = x - x.mean(0, keepdim=True)
    gram = x.T @ x if n >= d else x @ x.T
    eig = _eigvalsh(gram / (n - 1))
    return eig.clamp(min=0)[: min(n, d)]


def components_for_variance(eigenvalues: torch.Tensor, threshold: float = 0.95) -> int:
    """Smallest ``k`` with ``sum(l[:k]) >= threshold * sum(l)``; ``eigenvalues`` decreasing."""
    if not 0.0 < threshold <= 1.0:
        raise InvalidArgument(f"threshold must be in (0, 1], got {threshold}; e.g. 0.95")
    lam = eigenvalues.to(torch.float64).clamp(min=0)
    total = float(lam.sum())
    if total <= 0.0:
        return 0
    cum = torch.cumsum(lam, 0)
    below = int((cum < threshold * total * (1 - 1e-12)).sum())
    return min(below + 1, lam.numel())


def participation_ratio_of(eigenvalues: torch.Tensor) -> float:
    """``(sum l)^2 / sum l^2``; 0.0 when all eigenvalues are 0."""
    lam = eigenvalues.to(torch.float64).clamp(min=0)
    sq = float((lam**2).sum())
    return float(lam.sum()) ** 2 / sq if sq > 0 else 0.0


def pca_dimensionality(acts: torch.Tensor, threshold: float = 0.95) -> int:
    """Number of principal components explaining ``>= threshold`` of the variance.

    acts: (N, D) float, one row per input (e.g. flattened layer activations). Stable public name.
    """
    return components_for_variance(explained_variance(acts), threshold)


def participation_ratio(acts: torch.Tensor) -> float:
    """Participation ratio ``(sum l)^2 / sum l^2`` of the covariance spectrum of ``acts (N, D)``."""
    return participation_ratio_of(explained_variance(acts))


def _measure_name(threshold: float) -> str:
    return f"pca{threshold * 100:g}"


def _layer_outputs(
    model: nn.Module, x: torch.Tensor, units: str, features: str
) -> dict[str, torch.Tensor]:
    """Per recorded layer: the output maps (``"flatten"``) or the spatial means (N, U)."""
    with torch.no_grad(), UnitRecorder(model, units, keep_maps=features == "flatten") as rec:
        model(x)
    return dict(rec.maps) if features == "flatten" else dict(rec.acts)


class _Features:
    """Flatten a layer's outputs in (C, H, W) order and keep the coordinates ``index``.

    The subset is taken before anything else (the change is computed on kept coordinates
    only), and from channels_last maps it is gathered through their (H, W, C) view, so the
    full flattened copy of a large layer is never made.
    """

    def __init__(self, shape: torch.Size, index: torch.Tensor | None) -> None:
        self.num_features = shape[1:].numel()
        self.index = index
        self.nhwc_index = None
        if index is not None and len(shape) == 4:
            c, hw = shape[1], shape[2] * shape[3]
            self.nhwc_index = (index % hw) * c + index // hw

    @property
    def k(self) -> int:
        return self.num_features if self.index is None else int(self.index.numel())

    def __call__(self, out: torch.Tensor) -> torch.Tensor:
        if self.index is None:
            return out.flatten(1)
        if (
            self.nhwc_index is not None
            and not out.is_contiguous()
            and out.is_contiguous(memory_format=torch.channels_last)
        ):
            view = out.permute(0, 2, 3, 1).reshape(out.shape[0], -1)  # a view, no copy
            return view.index_select(1, self.nhwc_index.to(out.device))
        return out.flatten(1).index_select(1, self.index.to(out.device))


def _check_budget(accs: Mapping[object, StreamingCovariance], limit: float) -> None:
    need = sum(a.nbytes for a in accs.values()) / 2**30
    if need > limit:
        raise InvalidArgument(
            f"dimensionality accumulators hold {need:.1f} GiB (> max_memory_gib={limit:g}); "
            "lower max_features, pass fewer perturbations or layers per call, or raise the limit"
        )


def layer_dimensionality(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    perturbations: Mapping[str, tuple[str, PerturbFn]] | None = None,
    *,
    units: str = "default",
    features: str = "flatten",
    threshold: float = 0.95,
    max_features: int | None = DEFAULT_MAX_FEATURES,
    max_memory_gib: float = 4.0,
    generator: torch.Generator | None = None,
    accumulate: torch.dtype = torch.float32,
    progress: bool = False,
) -> list[dict]:
    """PCA dimensionality and participation ratio of every recorded layer, streamed over batches.

    batches: iterable of ``(x (B, C, H, W) float in [0, 1], y (B,) int64)``, iterated once.
    perturbations: ``{label: (input_kind, fn)}``, e.g.
    ``{"gaussian_noise@3": ("corrupted", f), "pgd-linf@0.0039": ("adversarial", g)}`` with
    ``fn(x, y) -> x_perturbed`` (called outside ``no_grad``, so attacks work).
    The model runs in eval mode (restored afterwards). Returns tidy records
    ``{"layer", "input_kind", "perturbation", "measure", "value"}``: ``input_kind`` is
    ``"clean"`` (perturbation ``"none"``), each perturbation's kind, and ``"change_" + kind``
    (perturbed minus clean activations); ``measure`` is ``"pca95"`` (named after
    ``threshold``) or ``"participation_ratio"``. Raises :class:`InvalidArgument` when the
    accumulators would exceed ``max_memory_gib``.

    Activations come from a frozen copy of the model with batch norm folded into its
    convolutions (:func:`selrob.models.fold.inference_copy`, checked against the model on the
    first batch; same values to float rounding), and the ``X^T X`` accumulators are float32
    (``accumulate``; pass ``torch.float64`` for the exact-to-double route; the difference is
    measured by ``benchmarks/analyses.py --dtype-check``).
    """
    if features not in FEATURES:
        raise InvalidArgument(f"features must be one of {FEATURES}, got {features!r}")
    if not 0.0 < threshold <= 1.0:
        raise InvalidArgument(f"threshold must be in (0, 1], got {threshold}; e.g. 0.95")
    perts = dict(perturbations or {})
    if "none" in perts:
        raise InvalidArgument("perturbation label 'none' is reserved for clean inputs; rename it")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    device = model_device(model)
    keys = [("clean", "none")]
    for label, (kind, _fn) in perts.items():
        keys += [(kind, label), (f"change_{kind}", label)]
    accs: dict[tuple[str, str, str], StreamingCovariance] = {}
    net: nn.Module | None = None
    sel: dict[str, _Features] = {}
    with eval_mode(model):
        for x, y in tqdm(batches, desc="dimensionality", disable=not progress, leave=False):
            x, y = x.to(device), y.to(device)
            xps = {label: fn(x, y).detach() for label, (_k, fn) in perts.items()}
            if net is None:
                net = inference_copy(model, x[:16])
            outs = _layer_outputs(net, x, units, features)
            if not accs:
                for name, o in outs.items():
                    sel[name] = _Features(
                        o.shape, feature_subset(o.shape[1:].numel(), max_features, gen)
                    )
                    for kind, label in keys:
                        accs[(name, kind, label)] = StreamingCovariance(
                            sel[name].k, device=o.device, dtype=accumulate
                        )
            clean = {name: sel[name](o) for name, o in outs.items()}
            for name, f in clean.items():
                accs[(name, "clean", "none")].update(f)
            for label, (kind, _fn) in perts.items():
                outs = _layer_outputs(net, xps[label], units, features)
                pert = {name: sel[name](o) for name, o in outs.items()}
                for name, f in pert.items():
                    accs[(name, kind, label)].update(f)
                    accs[(name, f"change_{kind}", label)].update(f - clean[name])
            _check_budget(accs, max_memory_gib)
    if not accs:
        raise InvalidArgument("no batches given to layer_dimensionality; pass a non-empty iterable")
    return _records(accs, threshold)


def _records(
    accs: Mapping[tuple[str, str, str], StreamingCovariance], threshold: float
) -> list[dict]:
    out = []
    for (layer, kind, label), acc in accs.items():
        eig = acc.eigenvalues()
        for measure, value in (
            (_measure_name(threshold), float(components_for_variance(eig, threshold))),
            ("participation_ratio", participation_ratio_of(eig)),
        ):
            out.append(
                {
                    "layer": layer,
                    "input_kind": kind,
                    "perturbation": label,
                    "measure": measure,
                    "value": value,
                }
            )
    return out
