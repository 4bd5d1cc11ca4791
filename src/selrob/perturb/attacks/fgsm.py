"""FGSM (Goodfellow et al. 2015, "Explaining and harnessing adversarial examples") and its L2
variant, the fast gradient method: one step of size ``eps`` along the ball's steepest-ascent
direction of the cross-entropy loss, then a clamp to [0, 1]."""

from __future__ import annotations

from torch import Tensor, nn

from selrob.enums import Norm
from selrob.models.common import eval_mode
from selrob.perturb.attacks._core import Epsilons, as_epsilons, check_images, frozen, loss_and_grad
from selrob.perturb.attacks.geometry import BALLS


def fgsm(
    model: nn.Module, x: Tensor, y: Tensor, eps: Epsilons, *, norm: str = Norm.LINF
) -> Tensor | dict[float, Tensor]:
    """FGSM (L-inf) / fast gradient method (L2) at one epsilon or several, from one gradient.

    Args:
        model: classifier mapping (N, C, H, W) in [0, 1] to logits (N, K); its ``training``
            flags are restored afterwards.
        x: (N, C, H, W) float in [0, 1]; y: (N,) integer labels.
        eps: a radius in pixel units (e.g. 8/255), or a sequence of them (duplicates dropped).
        norm: "linf" or "l2".
    Returns:
        ``x_adv = clamp(x + eps * direction, 0, 1)`` (N, C, H, W) for one epsilon, else
        ``{epsilon: x_adv}``. Epsilon 0 returns a copy of ``x``.
    """
    eps_list, single = as_epsilons(eps)
    ball = BALLS.get(norm)
    check_images(x, y)
    x = x.detach()
    out: dict[float, Tensor] = {}
    direction = None
    for e in eps_list:
        if e == 0:
            out[e] = x.clone()
            continue
        if direction is None:  # one gradient serves every budget
            with eval_mode(model):
                direction = ball.ascent_direction(loss_and_grad(frozen(model, x), x, y))
        out[e] = ball.project(x + e * direction, x, e).clamp_(0.0, 1.0)
    return out[eps_list[0]] if single else out
