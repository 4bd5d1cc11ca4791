"""PGD (Madry et al. 2018, "Towards deep learning models resistant to adversarial attacks").

``steps`` steps of size ``step_size`` (absolute, pixel units) along the ball's ascent
direction, each followed by a projection onto the ball and a clamp to [0, 1], from a uniform
random start in the ball. With ``restarts > 1`` an example counts as broken if any restart
breaks it: the returned point is the final iterate of the first restart that misclassifies
it, else the restart's final iterate with the highest loss. Restarts after the first only run
on unbroken examples.

Several epsilons run as one batched attack: one copy of the batch per non-zero epsilon is
stacked along the batch dimension, with per-example radii and step sizes. The random start of
the copy for the k-th non-zero epsilon comes from a child generator seeded by the k-th draw
from ``generator``, so one call over a list makes the same draws as calling :func:`pgd` for
each epsilon in turn with one generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selrob.enums import Norm
from selrob.errors import InvalidArgument
from selrob.models.common import eval_mode
from selrob.perturb.attacks._core import (
    Epsilons,
    as_epsilons,
    check_count,
    check_eps,
    check_images,
    frozen,
    loss_and_grad,
)
from selrob.perturb.attacks.geometry import BALLS, NormBall


def default_step_size(eps: float, steps: int) -> float:
    """Madry et al. (2018)'s PGD step size, ``2.5 * eps / steps`` (pixel units).

    With it, ``steps`` steps can walk from one side of the ball to the other and back
    (2.5 radii), so a random start does not limit where PGD can reach.
    """
    check_count("steps", steps)
    return 2.5 * check_eps(eps) / steps


def _step_sizes(
    step_size: float | Sequence[float] | None, eps: list[float], steps: int
) -> list[float]:
    if step_size is None:
        return [default_step_size(e, steps) for e in eps]
    sizes = [step_size] * len(eps) if isinstance(step_size, int | float) else list(step_size)
    if len(sizes) != len(eps):
        raise InvalidArgument(
            f"got {len(sizes)} step sizes for {len(eps)} epsilons; pass one per epsilon"
        )
    for s in sizes:
        if not (isinstance(s, int | float) and math.isfinite(s) and s > 0):
            raise InvalidArgument(
                f"step_size {s!r} must be finite and > 0 (pixel units, e.g. 2/255)"
            )
    return [float(s) for s in sizes]


def _column(values: Sequence[float], n: int, like: Tensor) -> Tensor:
    """Per-example scalars, each value repeated ``n`` times, shaped (len*n, 1, ..., 1)."""
    t = torch.tensor(values, dtype=like.dtype, device=like.device).repeat_interleave(n)
    return t.view(-1, *([1] * (like.dim() - 1)))


def _child_generator(generator: torch.Generator) -> torch.Generator:
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator(device=generator.device).manual_seed(seed)


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Epsilons,
    steps: int = 10,
    step_size: float | Sequence[float] | None = None,
    *,
    norm: str = Norm.LINF,
    random_start: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
    max_batch: int = 256,
) -> Tensor | dict[float, Tensor]:
    """PGD at one epsilon or several (one batched run, one batch copy per non-zero epsilon).

    Args:
        model: classifier mapping (N, C, H, W) in [0, 1] to logits (N, K); its ``training``
            flags are restored afterwards.
        x: (N, C, H, W) float in [0, 1]; y: (N,) integer labels.
        eps: a radius in pixel units (e.g. 8/255), or a sequence of them (duplicates dropped);
            0 returns a copy of ``x``.
        steps: gradient steps per restart (>= 1).
        step_size: absolute step in pixel units: one float for every epsilon, one per epsilon,
            or None for :func:`default_step_size` (2.5 * eps / steps) per epsilon.
        norm: "linf" or "l2".
        random_start: start uniformly in the ball (Madry et al. 2018) instead of at ``x``.
        restarts: random restarts (>= 1; > 1 needs ``random_start``); worst case per example.
        generator: source of the random starts; None means a fresh generator seeded with 0.
        max_batch: the largest stacked batch; epsilons run in groups of max(1, max_batch // N).
            The result does not depend on the grouping; memory grows with the stack.
    Returns:
        x_adv (N, C, H, W) in [0, 1] within epsilon of x for one epsilon, else
        ``{epsilon: x_adv}``.
    """
    eps_list, single = as_epsilons(eps)
    ball = BALLS.get(norm)
    for name, value in (("steps", steps), ("restarts", restarts), ("max_batch", max_batch)):
        check_count(name, value)
    sizes = dict(zip(eps_list, _step_sizes(step_size, eps_list, steps), strict=True))
    if restarts > 1 and not random_start:
        raise InvalidArgument(
            "restarts > 1 repeats the same attack without random_start; set random_start=True"
        )
    check_images(x, y)
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
                _pgd_stacked(model, ball, x, y, eps_group, step_group, steps, restarts, gens)
            )
        adv = torch.cat(parts)
    n = x.shape[0]
    blocks = {e: adv[k * n : (k + 1) * n] for k, e in enumerate(active)}
    out = {e: blocks[e] if e > 0 else x.clone() for e in eps_list}
    return out[eps_list[0]] if single else out


def _pgd_loop(
    model: nn.Module,
    ball: NormBall,
    x: Tensor,
    x0: Tensor,
    y: Tensor,
    eps: Tensor,
    step: Tensor,
    steps: int,
) -> Tensor:
    """``steps`` PGD iterations from ``x``: gradient, ascent step, project, clamp to the box."""
    for _ in range(steps):
        grad = loss_and_grad(model, x, y)
        x = x + step * ball.ascent_direction(grad)
        x = ball.project(x, x0, eps).clamp_(0.0, 1.0)
    return x


def _pgd_stacked(
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
    eps, step = _column(active, n, x), _column(sizes, n, x)
    best = x0.clone()
    best_loss = torch.full((k * n,), -math.inf, dtype=x.dtype, device=x.device)
    broken = torch.zeros(k * n, dtype=torch.bool, device=x.device)
    with eval_mode(model):
        net = frozen(model, x)
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
                adv = _pgd_loop(net, ball, start, x0, yy, eps, step, steps)
                if restarts == 1:
                    return adv
            else:
                adv = _pgd_loop(net, ball, start[idx], x0[idx], yy[idx], eps[idx], step[idx], steps)
            with torch.no_grad():
                logits = net(adv)
                loss = F.cross_entropy(logits, yy[idx], reduction="none")
                wrong = logits.argmax(1) != yy[idx]
            # keep the first breaking iterate, else the highest-loss one
            take = wrong | (loss > best_loss[idx])
            best[idx[take]] = adv[take].detach()
            best_loss[idx[take]] = loss[take]
            broken[idx[wrong]] = True
    return best
