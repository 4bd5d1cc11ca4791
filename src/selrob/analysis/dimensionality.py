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

Cost and the feature budget. Flattened early layers are large (resnet20 at 28 px: 16x28x28 =
12544 features). :class:`StreamingCovariance` is exact: it keeps the rows while ``n < D``
(Gram route, memory ``n D``) and switches to a ``D x D`` ``X^T X`` from then on (float64, or
float32 as :func:`layer_dimensionality` uses by default, to about 1e-6 relative), so memory
is ``min(n D x 4, D^2 x 8)`` bytes per layer and representation (``D^2 x 4`` in float32). With
``max_features=None`` nothing is approximated; that fits for a few thousand inputs (2000
inputs: about 0.6 GiB per representation for all ten resnet20 layers). Beyond that, when
``D > max_features`` (default 2048) we keep a fixed random subset of ``max_features``
coordinates, drawn once per layer from a seeded ``torch.Generator`` (seed 0 unless one is
given) and shared by the clean, perturbed and change representations, so all three are
measured on the same coordinates; five representations of resnet20 then stay under 2 GiB and
the ``O(n K^2)`` cost stays affordable on a CPU. Subsampling biases the count low: on 2000
Fashion-MNIST test images (random-init resnet20) 2048 kept features turned the stem's 301
components into 236-245 (two draws), layer1.0's 453 into 316-323 and the stem's gaussian-noise
change 1265 into 866-876 (``benchmarks/analyses.py --bias-check``). Compare networks at one
fixed budget, and prefer ``max_features=None`` when the inputs are few enough.

Perturbations. :func:`layer_dimensionality` takes ``{label: (input_kind, fn)}`` with
``fn(x, y) -> x_perturbed``; for each it reports the perturbed representation (``input_kind``)
and the change, perturbed minus clean activations of the same inputs (``"change_" + kind``).
Clean activations are computed once per batch and reused for every perturbation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
from scipy.linalg.blas import dsyrk, ssyrk
from torch import nn
from tqdm.auto import tqdm

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
    stalled erratically (250 x 250: 4 s instead of 2 ms; 1024: 8.5 s instead of 0.1 s), while
    one thread did 2048 x 2048 in 0.5 s, as fast as two at their best. (Spreading many
    matrices over a thread pool, one single-threaded call each, was 2.4x slower still.)
    """
    if m.device.type != "cpu" or m.shape[0] > 4096:
        return torch.linalg.eigvalsh(m).flip(0)
    with _one_thread():
        return torch.linalg.eigvalsh(m).flip(0)


def explained_variance(acts: torch.Tensor) -> torch.Tensor:
    """Covariance eigenvalues of ``acts (N, D)``, decreasing, float64, length ``min(N, D)``.

    Route by shape, both through ``eigvalsh``: for ``N >= D`` the ``D x D`` covariance
    (``O(N D^2 + D^3)``, the computation :class:`StreamingCovariance` streams); for ``D > N``
    the ``N x N`` Gram matrix of the centred rows, which has the same non-zero eigenvalues
    (``O(N^2 D)``, never forming ``D x D``). The Gram route replaces a centred SVD: on
    2000 x 12544 float64 it was 14x faster than ``svdvals`` on 2 CPU cores, and squaring the
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
    cost of the ``X^T X`` products (about 2x on a CPU), at a relative error of order ``1e-6``
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

        The ``n x n`` Gram matrix of the centred rows while ``n < K`` (float64), else the
        ``K x K`` covariance, decomposed in the accumulator's dtype (float32: about 2x faster,
        error of order 1e-6 of the largest eigenvalue, like the accumulation itself)."""
        self._check_n()
        if self.rows is not None:  # Gram route: n x n
            x = torch.cat(self.rows).to(torch.float64)
            x = x - x.mean(0)
            eig = _eigvalsh(x @ x.T / (self.n - 1))
        else:
            eig = _eigvalsh(self.covariance().to(self.dtype))
        return eig.to(torch.float64).clamp(min=0).cpu()[: min(self.n, self.k)]


def _syrk_lower(c: torch.Tensor, x: torch.Tensor) -> None:
    """``c += x^T x`` on the lower triangle of the CPU matrix ``c (K, K)``, in place.

    BLAS ``syrk`` (scipy's binding) computes one triangle: half the multiply-adds of
    ``addmm_``, which was the largest cost of :func:`layer_dimensionality` on 10k images (about
    1.6x faster there). ``c`` is row-major, so its lower triangle is the upper one of the
    column-major ``c.T`` that BLAS sees.
    """
    fn = ssyrk if c.dtype == torch.float32 else dsyrk
    ct = c.numpy().T  # a column-major view of c: BLAS writes into it
    out = fn(1.0, x.contiguous().numpy().T, beta=1.0, c=ct, trans=0, lower=0, overwrite_c=1)
    if not np.shares_memory(out, ct):  # the binding copied after all: write the result back
        c.copy_(torch.from_numpy(np.ascontiguousarray(out.T)))


def _measure_name(threshold: float) -> str:
    return f"pca{threshold * 100:g}"


def _layer_outputs(
    model: nn.Module, x: torch.Tensor, layers: str, features: str
) -> dict[str, torch.Tensor]:
    """Per recorded layer: the output maps (``"flatten"``) or the spatial means (N, U)."""
    with torch.no_grad(), UnitRecorder(model, layers, keep_maps=features == "flatten") as rec:
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
    layers: str = "default",
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

    Speed: activations come from a frozen copy of the model with batch norm folded into its
    convolutions (:func:`selrob.models.fold.inference_copy`, checked against the model on the
    first batch; same values to float rounding), and the ``X^T X`` accumulators are float32
    (``accumulate``; pass ``torch.float64`` for the exact-to-double route). On 10k
    Fashion-MNIST test images (random-init resnet20, 2048 features, clean + gaussian noise +
    FGSM and both changes) float32 changed none of the 50 pca95 counts and the participation
    ratios by at most 3.2e-6 relative (``benchmarks/analyses.py --dtype-check``), while
    halving the accumulators' cost and memory.
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
            outs = _layer_outputs(net, x, layers, features)
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
                outs = _layer_outputs(net, xps[label], layers, features)
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
