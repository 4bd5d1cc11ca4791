"""Robustness training: how a training minibatch is perturbed before its step.

``train_mode`` (a :class:`~selrob.config.TrainSpec` field, part of the run's hash) chooses:

- ``standard``: the clean batch;
- ``adversarial``: PGD (Madry et al. 2018) within ``at_eps`` in the ``at_norm`` ball,
  ``at_steps`` steps of 2.5 * at_eps / at_steps from a uniform random start, by the same
  :func:`selrob.perturb.attacks.pgd` the evaluation uses (the attack sees the model in eval
  mode, so batch-norm statistics are not updated by the attack's passes);
- ``noise``: additive Gaussian noise of standard deviation ``noise_sigma``, clipped to [0, 1];
- ``corruptions``: each image gets one (corruption, severity) drawn uniformly from
  ``train_corruptions`` minus ``hold_out`` times ``train_severities``, applied by
  :func:`selrob.perturb.corruptions.corrupt`, so corruption robustness can be measured on
  corruptions the network never saw.

The regulariser still applies to the perturbed batch (``CE - alpha * mu_SI`` on it). All
draws come from one generator per epoch (:func:`selrob.seeds.train_perturbation_seed`), so a
resumed run draws what an uninterrupted one does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selrob.config import TrainSpec
from selrob.enums import TrainMode
from selrob.errors import InvalidArgument
from selrob.perturb.attacks import pgd
from selrob.perturb.corruptions import CORRUPTIONS, FAMILIES, corrupt, resolve_corruptions


def training_corruptions(spec: TrainSpec, channels: int) -> list[str]:
    """The corruptions a ``corruptions`` run draws from: its suite minus the held-out ones."""
    suite = resolve_corruptions(spec.train_corruptions, channels)
    held: set[str] = set()
    for name in spec.hold_out:
        if name in FAMILIES:
            held.update(FAMILIES[name])
        elif name in CORRUPTIONS:
            held.add(name)
        else:
            raise InvalidArgument(f"hold_out: unknown corruption or family {name!r}; choose from "
                                  f"{', '.join(FAMILIES)}, {', '.join(CORRUPTIONS)}")  # fmt: skip
    kept = [c for c in suite if c not in held]
    if not kept:
        raise InvalidArgument(
            f"hold_out {', '.join(spec.hold_out)} leaves no corruption to train on; hold out fewer"
        )
    return kept


class BatchPerturbation:
    """The perturbation of one run's training batches; call it on each (x, y)."""

    def __init__(self, spec: TrainSpec, channels: int) -> None:
        self.spec = spec
        self.cells: list[tuple[str, int]] = []
        if spec.train_mode == TrainMode.CORRUPTIONS:
            names = training_corruptions(spec, channels)
            self.cells = [(c, s) for c in names for s in spec.train_severities]
        if spec.train_mode == TrainMode.ADVERSARIAL and spec.at_eps is None:
            raise InvalidArgument("adversarial training needs at_eps (resolve the spec first)")

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        """The batch to train on: (N, C, H, W) in [0, 1], same shape and device as ``x``.

        ``gen``: the epoch's CPU generator, advanced by every draw."""
        mode = self.spec.train_mode
        if mode == TrainMode.STANDARD:
            return x
        if mode == TrainMode.ADVERSARIAL:
            eps = float(self.spec.at_eps or 0.0)
            child = torch.Generator().manual_seed(int(torch.randint(2**62, (), generator=gen)))
            return pgd(model, x, y, eps, self.spec.at_steps, norm=self.spec.at_norm,
                       random_start=True, generator=child)  # fmt: skip
        if mode == TrainMode.NOISE:
            noise = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
            return (x + self.spec.noise_sigma * noise).clamp_(0.0, 1.0)
        return self._corrupt(x, gen)

    def _corrupt(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """One drawn (corruption, severity) per image; images sharing a cell go in one call."""
        pick = torch.randint(len(self.cells), (x.shape[0],), generator=gen)
        out = x.clone()
        for cell in pick.unique().tolist():  # sorted, so the draws below come in a fixed order
            idx = (pick == cell).nonzero().squeeze(1).to(x.device)
            name, severity = self.cells[cell]
            out[idx] = corrupt(x[idx], name, severity, generator=gen).to(x.dtype)
        return out
