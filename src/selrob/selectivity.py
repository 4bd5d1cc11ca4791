"""Class selectivity index (Leavitt & Morcos 2020; Morcos et al. 2018) and its regulariser.

For one unit with class-conditional mean activations ``mu_c`` (non-negative, post-ReLU):

    SI = (mu_max - mu_-max) / (mu_max + mu_-max + eps),   eps = 1e-7

where ``mu_max = max_c mu_c`` and ``mu_-max`` is the mean of the other classes' ``mu_c``.
SI is in [0, 1]: 0 = the same mean response to every class, 1 = responds to one class only;
a dead unit (all zero) gets 0. Layer selectivity is the mean SI over a layer's units; network
selectivity ``mu_SI`` is the mean over layers of the layer means. The training loss is
``CE - alpha * mu_SI`` with ``mu_SI`` computed on the minibatch; classes absent from the batch
are left out of both the max and the mean. With fewer than two classes present SI is
undefined and is returned as 0 (no gradient).

All functions are pure tensor math, differentiable where it makes sense (the max takes a
subgradient).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

EPS = 1e-7


def class_means(
    acts: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-conditional means in one matmul (no Python loop over classes).

    acts: (N, U) float; labels: (N,) int64 in [0, num_classes).
    Returns ``(means (C, U), present (C,) bool)``; rows of absent classes are 0.
    """
    onehot = torch.nn.functional.one_hot(labels, num_classes).to(acts.dtype)  # (N, C)
    counts = onehot.sum(0)  # (C,)
    sums = onehot.t() @ acts  # (C, U)
    return sums / counts.clamp(min=1).unsqueeze(1), counts > 0


def selectivity_index(
    class_means: torch.Tensor, present: torch.Tensor | None = None, eps: float = EPS
) -> torch.Tensor:
    """Per-unit selectivity index.

    class_means: (C, U) non-negative; present: optional (C,) bool mask of classes to use.
    Returns (U,) in [0, 1].
    """
    if present is not None and not bool(present.all()):
        class_means = class_means[present]
    n_cls = class_means.shape[0]
    if n_cls < 2:
        return class_means.new_zeros(class_means.shape[1])
    mu_max = class_means.max(dim=0).values
    mu_rest = (class_means.sum(dim=0) - mu_max) / (n_cls - 1)
    return (mu_max - mu_rest) / (mu_max + mu_rest + eps)


def layer_selectivity(
    acts: Mapping[str, torch.Tensor], labels: torch.Tensor, num_classes: int
) -> dict[str, torch.Tensor]:
    """Mean SI over each layer's units on one batch: {layer: scalar tensor} (differentiable)."""
    out = {}
    for name, a in acts.items():
        means, present = class_means(a, labels, num_classes)
        out[name] = selectivity_index(means, present).mean()
    return out


def network_selectivity(per_layer: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``mu_SI``: mean over layers of the layer means (a scalar tensor)."""
    return torch.stack(list(per_layer.values())).mean()


def regularized_loss(
    logits: torch.Tensor, labels: torch.Tensor, acts: Mapping[str, torch.Tensor], alpha: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """``CE - alpha * mu_SI`` on a minibatch. Returns (loss, ce, mu_SI, per-layer SI).

    With ``alpha == 0`` the selectivity is still computed (for logging) but detached, so the
    gradient is exactly that of plain cross-entropy.
    """
    ce = torch.nn.functional.cross_entropy(logits, labels)
    per_layer = layer_selectivity(acts, labels, logits.shape[1])
    si = network_selectivity(per_layer)
    if alpha == 0:
        return ce, ce, si.detach(), {k: v.detach() for k, v in per_layer.items()}
    return ce - alpha * si, ce, si, per_layer


class SelectivityAccumulator:
    """Dataset-level selectivity without storing activations: accumulates per-class sums.

    Call :meth:`update` with each batch's ``{layer: (N, U)}`` activations and labels, then
    :meth:`per_unit` for ``{layer: (U,) SI}`` over everything seen.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.sums: dict[str, torch.Tensor] = {}
        self.counts = torch.zeros(num_classes, dtype=torch.float64)

    @torch.no_grad()
    def update(self, acts: Mapping[str, torch.Tensor], labels: torch.Tensor) -> None:
        onehot = torch.nn.functional.one_hot(labels.cpu(), self.num_classes).to(torch.float64)
        self.counts += onehot.sum(0)
        for name, a in acts.items():
            s = onehot.t() @ a.detach().cpu().to(torch.float64)
            self.sums[name] = self.sums[name] + s if name in self.sums else s

    def per_unit(self) -> dict[str, torch.Tensor]:
        """{layer: (U,) float64 SI} over all updates; classes never seen are excluded."""
        present = self.counts > 0
        means = {k: v / self.counts.clamp(min=1).unsqueeze(1) for k, v in self.sums.items()}
        return {k: selectivity_index(m, present) for k, m in means.items()}

    def summary(self) -> tuple[float, dict[str, float]]:
        """(network mean, {layer: layer mean})."""
        per_layer = {k: float(v.mean()) for k, v in self.per_unit().items()}
        return float(sum(per_layer.values()) / max(1, len(per_layer))), per_layer
