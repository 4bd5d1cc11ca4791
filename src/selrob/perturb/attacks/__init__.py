"""White-box, untargeted gradient attacks over a norm-ball geometry (L-inf and L2).

- :func:`fgsm`: one step of size ``eps`` (Goodfellow et al. 2015; the L2 "fast gradient method").
- :func:`pgd`: projected gradient descent from a random start (Madry et al. 2018).
- :func:`attack`: either, by name (the :data:`ATTACKS` registry), at one or many epsilons.
- :mod:`.geometry`: the norm balls (random start, ascent direction, projection), public.

Every epsilon is in pixel units of images in [0, 1] (e.g. 8/255 for L-inf; the L2 radius is
over all C*H*W values of one example); each function takes one epsilon (returns the attacked
batch) or a sequence (returns ``{epsilon: batch}``), and every option is keyword-only.
Gradients come from ``torch.autograd.grad`` w.r.t. the input only; on CPU the model is
differentiated through a frozen BN-folded copy (:mod:`selrob.models.fold`); the caller's
model is never modified and its ``training`` flags are restored, also on exceptions.

Settings of the paper (Leavitt & Morcos 2020): FGSM and PGD, L-inf (L2 in the appendix),
untargeted. Its number of PGD steps, step size and epsilon grid could not be verified; we
default to 10 steps and Madry's ``2.5 * eps / steps`` step (``docs/method.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from selrob.enums import Norm
from selrob.perturb.attacks._core import Epsilons
from selrob.perturb.attacks.fgsm import fgsm
from selrob.perturb.attacks.geometry import BALLS, L2Ball, LinfBall, NormBall
from selrob.perturb.attacks.pgd import default_step_size, pgd
from selrob.registry import Registry

__all__ = [
    "ATTACKS",
    "BALLS",
    "L2Ball",
    "LinfBall",
    "NormBall",
    "attack",
    "default_step_size",
    "fgsm",
    "pgd",
]

AttackFn = Callable[..., Tensor | dict[float, Tensor]]
ATTACKS: Registry[AttackFn] = Registry("attack")
"""Attack name -> ``fn(model, x, y, eps, *, norm, steps, step_size, random_start, restarts,
generator, max_batch)``; ``ATTACKS.names() == ["fgsm", "pgd"]``."""


@ATTACKS.register("fgsm")
def _fgsm_entry(model: nn.Module, x: Tensor, y: Tensor, eps: Epsilons, *, norm: str,
                **_pgd_options: object) -> Tensor | dict[float, Tensor]:  # fmt: skip
    # One signed step: steps, step size, starts and restarts have no meaning for FGSM.
    return fgsm(model, x, y, eps, norm=norm)


ATTACKS.register("pgd")(pgd)


def attack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    name: str,
    eps: Epsilons,
    *,
    norm: str = Norm.LINF,
    steps: int = 10,
    step_size: float | Sequence[float] | None = None,
    random_start: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
    max_batch: int = 256,
) -> Tensor | dict[float, Tensor]:
    """Run attack ``name`` ("fgsm" or "pgd") at one epsilon or every epsilon of a sequence.

    The PGD options (steps, step_size, random_start, restarts, generator, max_batch; see
    :func:`pgd`) are ignored by FGSM. UnknownName lists the attacks for a bad ``name``.
    """
    return ATTACKS.get(name)(
        model, x, y, eps, norm=norm, steps=steps, step_size=step_size,
        random_start=random_start, restarts=restarts, generator=generator, max_batch=max_batch,
    )  # fmt: skip
