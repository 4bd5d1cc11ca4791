"""White-box, untargeted FGSM and PGD over a norm-ball geometry (L-inf and L2).

- FGSM: one step of size ``eps`` along the ball's ascent direction of the cross-entropy loss:
  the gradient's sign for L-inf (Goodfellow et al. 2015, "Explaining and harnessing adversarial
  examples"), the per-example normalised gradient for L2 (the "fast gradient method").
- PGD: ``steps`` steps of size ``step_size`` (absolute, pixel units), each followed by a
  projection onto the ball and a clamp to [0, 1], from a uniform random start in the ball
  (Madry et al. 2018, "Towards deep learning models resistant to adversarial attacks").
  With ``restarts > 1`` an example counts as broken if any restart breaks it: the returned point
  is the final iterate of the first restart that misclassifies it, else the restart's final
  iterate with the highest loss. Restarts after the first only run on unbroken examples.

Every epsilon is in pixel units of images in [0, 1] (e.g. 8/255 for L-inf; the L2 radius is over
all C*H*W values of one example). Epsilon 0 returns ``x`` unchanged.

Paper settings (Leavitt & Morcos 2020): FGSM and PGD, L-inf (L2 in the appendix), untargeted,
with a fixed number of PGD steps and a step size relative to epsilon. The exact number of steps,
step size and epsilon grid were not available to us when this was written (PAPER.md marks them
"check"); we default to 10 steps and Madry's rule ``default_step_size(eps, steps) = 2.5 * eps /
steps`` and say so here until confirmed against the paper's appendix.

Implementation notes: the loss is the summed per-example cross-entropy, so each example's
gradient does not depend on the batch; gradients come from ``torch.autograd.grad`` w.r.t. the
input only (parameters never accumulate ``.grad`` and no weight gradient is computed, which is
much of the speed-up over foolbox 3.3.4, whose backward also computes weight gradients). On
CPU, FGSM and PGD run on a frozen deep copy of the model with batch norm folded into the convolutions
and channels_last weights (the rest of the speed-up; see :mod:`selrob.models.fold`; the caller's
model is never modified). The model runs in eval mode; every module's ``training`` flag is restored afterwards, also
on exceptions. The multi-epsilon functions reuse work: FGSM shares one gradient across all
epsilons; PGD stacks one copy of the batch per epsilon along the batch dimension, with
per-example radii and step sizes. The random start of the copy for the k-th non-zero epsilon
comes from a child generator seeded by the k-th draw from ``generator``, so ``pgd_multi`` over a
list makes the same random draws as calling ``pgd`` for each epsilon in turn with one generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selrob.errors import InvalidArgument
from selrob.models.common import eval_mode
from selrob.models.fold import inference_copy
from selrob.perturb._balls import BALLS, L2Ball, LinfBall, NormBall, ball_by_name
from selrob.registry import Registry

__all__ = [
    "ATTACKS",
    "BALLS",
    "L2Ball",
    "LinfBall",
    "attack",
    "attack_by_name",
    "ball_by_name",
    "default_step_size",
    "fgsm",
    "fgsm_multi",
    "pgd",
    "pgd_multi",
]

#: Attack name -> multi-epsilon function; ``ATTACKS.names()`` == ["fgsm", "pgd"].
#: Norm names are ``BALLS.names()`` == ["linf", "l2"].
ATTACKS: Registry[Callable[..., dict[float, Tensor]]] = Registry("attack")


def default_step_size(eps: float, steps: int) -> float:
    """Madry et al. (2018)'s PGD step size, ``2.5 * eps / steps`` (pixel units).

    With it, ``steps`` steps can walk from one side of the ball to the other and back
    (2.5 radii), so a random start does not limit where PGD can reach.
    """
    _check_count("steps", steps)
    return 2.5 * _check_eps(eps) / steps


# ---------------------------------------------------------------- validation


def _check_eps(eps: float) -> float:
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise InvalidArgument(f"epsilon {eps!r} is not a number; pass e.g. 8/255") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument(f"epsilon {eps!r} must be finite and >= 0; pass e.g. 8/255")
    return value


def _check_epsilons(epsilons: Sequence[float]) -> list[float]:
    if isinstance(epsilons, (int, float)) or len(epsilons) == 0:
        raise InvalidArgument("epsilons must be a non-empty sequence; pass e.g. [0, 2/255, 8/255]")
    return list(dict.fromkeys(_check_eps(e) for e in epsilons))


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{name}={value!r} must be an integer >= 1")


def _check_images(x: Tensor, y: Tensor) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise InvalidArgument(
            "x must be a float tensor (N, C, H, W) in [0, 1]; divide uint8 by 255"
        )
    if not isinstance(y, Tensor) or y.shape != x.shape[:1] or y.is_floating_point():
        raise InvalidArgument("y must be an integer label tensor of shape (N,) matching x")
    if x.numel() > 0:
        lo, hi = torch.aminmax(x.detach())
        if not (lo >= 0 and hi <= 1):  # also catches NaN
            raise InvalidArgument(
                f"x has values in [{lo.item():.4g}, {hi.item():.4g}]; pass images in [0, 1]"
                " (normalisation belongs inside the model)"
            )


def _step_sizes(
    step_size: float | Sequence[float] | None, eps: list[float], steps: int
) -> list[float]:
    if step_size is None:
        return [default_step_size(e, steps) for e in eps]
    sizes = [step_size] * len(eps) if isinstance(step_size, (int, float)) else list(step_size)
    if len(sizes) != len(eps):
        raise InvalidArgument(
            f"got {len(sizes)} step sizes for {len(eps)} epsilons; pass one per epsilon"
        )
    for s in sizes:
        if not (isinstance(s, (int, float)) and math.isfinite(s) and s > 0):
            raise InvalidArgument(
                f"step_size {s!r} must be finite and > 0 (pixel units, e.g. 2/255)"
            )
    return [float(s) for s in sizes]


# ---------------------------------------------------------------- core


def _loss_and_grad(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Gradient of the summed cross-entropy w.r.t. ``x`` only: (N, ...)."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def _column(values: Sequence[float], n: int, like: Tensor) -> Tensor:
    """Per-example scalars, each value repeated ``n`` times, shaped (len*n, 1, ..., 1)."""
    t = torch.tensor(values, dtype=like.dtype, device=like.device).repeat_interleave(n)
    return t.view(-1, *([1] * (like.dim() - 1)))


def _frozen(model: nn.Module, x: Tensor) -> nn.Module:
    """The model to differentiate through: on the CPU a BN-folded channels_last inference copy
    (checked on ``x[:16]``), elsewhere the model itself."""
    return inference_copy(model, x[:16]) if x.device.type == "cpu" and x.dim() == 4 else model


def _child_generator(generator: torch.Generator) -> torch.Generator:
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator(device=generator.device).manual_seed(seed)


def _pgd_loop(
    model: nn.Module,
    ball: NormBall,
    x: Tensor,
    x0: Tensor,
    y: Tensor,
    eps: Tensor,
    alpha: Tensor,
    steps: int,
) -> Tensor:
    for _ in range(steps):
        grad = _loss_and_grad(model, x, y)
        x = x + alpha * ball.ascent_direction(grad)
        x = ball.project(x, x0, eps).clamp_(0.0, 1.0)
    return x


# ---------------------------------------------------------------- public attacks


@ATTACKS.register("fgsm")
def fgsm_multi(
    model: nn.Module, x: Tensor, y: Tensor, epsilons: Sequence[float], norm: str = "linf"
) -> dict[float, Tensor]:
    """FGSM (L-inf) / fast gradient method (L2) at several epsilons from one gradient.

    Args:
        model: classifier mapping (N, C, H, W) in [0, 1] to logits (N, K).
        x: (N, C, H, W) float in [0, 1]; y: (N,) integer labels.
        epsilons: radii in pixel units (e.g. [0, 2/255, 8/255]); duplicates are dropped.
        norm: "linf" or "l2".
    Returns:
        {epsilon: x_adv (N, C, H, W) in [0, 1]}, ``x_adv = clamp(x + eps * direction, 0, 1)``.
    """
    eps_list = _check_epsilons(epsilons)
    ball = ball_by_name(norm)
    _check_images(x, y)
    x = x.detach()
    out: dict[float, Tensor] = {}
    direction = None
    for e in eps_list:
        if e == 0:
            out[e] = x.clone()
            continue
        if direction is None:
            with eval_mode(model):
                net = _frozen(model, x)
                direction = ball.ascent_direction(_loss_and_grad(net, x, y))
        out[e] = ball.project(x + e * direction, x, e).clamp_(0.0, 1.0)
    return out


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float, norm: str = "linf") -> Tensor:
    """FGSM at one epsilon (pixel units); see :func:`fgsm_multi`. Returns x_adv (N, C, H, W)."""
    eps = _check_eps(eps)
    return fgsm_multi(model, x, y, [eps], norm)[eps]


@ATTACKS.register("pgd")
def pgd_multi(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    epsilons: Sequence[float],
    steps: int = 10,
    step_size: float | Sequence[float] | None = None,
    norm: str = "linf",
    random_start: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
    max_batch: int = 256,
) -> dict[float, Tensor]:
    """PGD at several epsilons in one batched run (one batch copy per non-zero epsilon).

    Args:
        model, x, y, norm: as in :func:`fgsm_multi`.
        epsilons: radii in pixel units; duplicates are dropped; 0 returns ``x`` unchanged.
        steps: gradient steps per restart (>= 1).
        step_size: absolute step in pixel units: one float for every epsilon, one per epsilon, or
            None for :func:`default_step_size` (2.5 * eps / steps) per epsilon.
        random_start: start uniformly in the ball (Madry et al. 2018) instead of at ``x``.
        restarts: random restarts (>= 1; > 1 needs ``random_start``); worst case per example.
        generator: source of the random starts; None means a fresh generator seeded with 0.
        max_batch: the largest stacked batch; epsilons run in groups of max(1, max_batch // N).
            The result does not depend on the grouping; memory grows with the stack. On CPU,
            stacking small batches up to ~256 helps, larger stacks were slower (benchmarks/).
    Returns:
        {epsilon: x_adv (N, C, H, W) in [0, 1], within epsilon of x}.
    """
    eps_list = _check_epsilons(epsilons)
    ball = ball_by_name(norm)
    for name, value in (("steps", steps), ("restarts", restarts), ("max_batch", max_batch)):
        _check_count(name, value)
    sizes = dict(zip(eps_list, _step_sizes(step_size, eps_list, steps), strict=True))
    if restarts > 1 and not random_start:
        raise InvalidArgument(
            "restarts > 1 repeats the same attack without random_start; set random_start=True"
        )
    _check_images(x, y)
    x = x.detach()
    active = [e for e in eps_list if e > 0]
    if active:
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        children = [_child_generator(generator) for _ in active] if random_start else []
        group = max(1, max_batch // max(1, x.shape[0]))
        parts = []
        for i in range(0, len(active), group):
            eps_group, gens = active[i : i + group], children[i : i + group]
            step_group = [sizes[e] for e in eps_group]
            parts.append(
                _pgd_batched(model, ball, x, y, eps_group, step_group, steps, restarts, gens)
            )
        adv = torch.cat(parts)
    n = x.shape[0]
    blocks = {e: adv[k * n : (k + 1) * n] for k, e in enumerate(active)}
    return {e: blocks[e] if e > 0 else x.clone() for e in eps_list}


def _pgd_batched(
    model: nn.Module,
    ball: NormBall,
    x: Tensor,
    y: Tensor,
    active: list[float],
    sizes: list[float],
    steps: int,
    restarts: int,
    children: list[torch.Generator],
) -> Tensor:
    """PGD on ``len(active)`` stacked copies of the batch; returns (len(active) * N, ...)."""
    k, n = len(active), x.shape[0]
    x0 = x.repeat(k, *([1] * (x.dim() - 1)))
    yy = y.repeat(k)
    eps, alpha = _column(active, n, x), _column(sizes, n, x)
    best = x0.clone()
    best_loss = torch.full((k * n,), -math.inf, dtype=x.dtype, device=x.device)
    broken = torch.zeros(k * n, dtype=torch.bool, device=x.device)
    with eval_mode(model):
        net = _frozen(model, x)
        for r in range(restarts):
            idx = (~broken).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            start = x0
            if children:  # draw for the whole batch so the draws never depend on `broken`
                parts = [
                    ball.random_start(x, eps[j * n : (j + 1) * n], g)
                    for j, g in enumerate(children)
                ]
                start = torch.cat(parts).clamp_(0.0, 1.0)
            if r == 0:  # everything is still unbroken: skip the gathers
                adv = _pgd_loop(net, ball, start, x0, yy, eps, alpha, steps)
                if restarts == 1:
                    return adv
            else:
                adv = _pgd_loop(
                    net, ball, start[idx], x0[idx], yy[idx], eps[idx], alpha[idx], steps
                )
            with torch.no_grad():
                logits = net(adv)
                loss = F.cross_entropy(logits, yy[idx], reduction="none")
                wrong = logits.argmax(1) != yy[idx]
            take = wrong | (loss > best_loss[idx])
            best[idx[take]] = adv[take].detach()
            best_loss[idx[take]] = loss[take]
            broken[idx[wrong]] = True
    return best


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    norm: str = "linf",
    random_start: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """PGD at one epsilon (pixel units, e.g. 8/255); ``step_size`` absolute, None = 2.5*eps/steps.

    See :func:`pgd_multi` for the arguments. Returns x_adv (N, C, H, W) in [0, 1].
    """
    eps = _check_eps(eps)
    out = pgd_multi(model, x, y, [eps], steps, step_size, norm, random_start, restarts, generator)
    return out[eps]


def attack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    name: str,
    epsilons: Sequence[float],
    norm: str = "linf",
    *,
    steps: int = 10,
    step_size: float | Sequence[float] | None = None,
    random_start: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
    max_batch: int = 256,
) -> dict[float, Tensor]:
    """Run attack ``name`` ("fgsm" or "pgd") at every epsilon: {epsilon: x_adv}.

    The PGD options (steps, step_size, random_start, restarts, generator, max_batch; see
    :func:`pgd_multi`) are ignored by FGSM.
    """
    fn = attack_by_name(name)
    if fn is fgsm_multi:
        return fgsm_multi(model, x, y, epsilons, norm)
    return fn(
        model, x, y, epsilons, steps, step_size, norm, random_start, restarts, generator, max_batch
    )


def attack_by_name(name: str) -> Callable[..., dict[float, Tensor]]:
    """The multi-epsilon function registered as ``name`` (:func:`fgsm_multi` or :func:`pgd_multi`).

    Raises UnknownName listing the valid names.
    """
    return ATTACKS.get(name)
