"""Norm-ball geometry of the gradient attacks (public: other attack loops can reuse it).

A geometry answers three questions for a batch ``x0: (N, C, H, W)`` and per-example radii
``eps: (N, 1, 1, 1)`` (pixel units, e.g. 8/255 for L-inf):

- ``random_start``: a point drawn uniformly from the ball around ``x0`` (Madry et al. 2018);
- ``ascent_direction``: the steepest-ascent direction of unit norm under this norm
  (the gradient's sign for L-inf, as in FGSM, Goodfellow et al. 2015; the per-example
  normalised gradient for L2, the "fast gradient method");
- ``project``: the closest point of the ball (clamp for L-inf, radial rescale for L2).

Clamping to the image box [0, 1] is left to the caller (always after ``project``); for both
norms the clamp keeps the point inside the ball, because the box contains ``x0`` and the
clamp moves every coordinate towards it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selrob.perturb._random import rand, randn
from selrob.registry import Registry

BALLS: Registry[NormBall] = Registry("norm")
"""Norm name -> its geometry, e.g. ``BALLS.get("linf").project(x, x0, eps)``."""

_TINY = 1e-12  # guards the division by a zero gradient / zero perturbation norm


def _flat_norm(t: Tensor) -> Tensor:
    """Per-example L2 norm of ``t: (N, ...)`` as shape (N, 1, ..., 1) for broadcasting."""
    n = t.flatten(1).norm(p=2, dim=1)
    return n.view(-1, *([1] * (t.dim() - 1)))


class NormBall:
    """Interface of a norm ball; subclasses implement the three operations."""

    name: str = ""

    def norm(self, delta: Tensor) -> Tensor:
        """Per-example norm of ``delta: (N, ...)`` -> (N,)."""
        raise NotImplementedError

    def random_start(self, x0: Tensor, eps: Tensor, generator: torch.Generator) -> Tensor:
        """``x0`` plus a perturbation uniform in the ball of radius ``eps`` (not clamped)."""
        raise NotImplementedError

    def ascent_direction(self, grad: Tensor) -> Tensor:
        """Unit-norm (in this norm's dual sense) ascent direction from ``grad: (N, ...)``."""
        raise NotImplementedError

    def project(self, x: Tensor, x0: Tensor, eps: Tensor) -> Tensor:
        """Closest point to ``x`` within ``eps`` of ``x0`` (per example)."""
        raise NotImplementedError


class LinfBall(NormBall):
    """The L-inf ball ``{x : max_i |x_i - x0_i| <= eps}``."""

    name = "linf"

    def norm(self, delta: Tensor) -> Tensor:
        return delta.flatten(1).abs().amax(dim=1)

    def random_start(self, x0: Tensor, eps: Tensor, generator: torch.Generator) -> Tensor:
        u = rand(x0.shape, generator, like=x0)
        return x0 + (2.0 * u - 1.0) * eps

    def ascent_direction(self, grad: Tensor) -> Tensor:
        return grad.sign()

    def project(self, x: Tensor, x0: Tensor, eps: Tensor) -> Tensor:
        return x0 + torch.clamp(x - x0, min=-eps, max=eps)


class L2Ball(NormBall):
    """The L2 ball ``{x : ||x - x0||_2 <= eps}`` (norm over all C*H*W values of one example)."""

    name = "l2"

    def norm(self, delta: Tensor) -> Tensor:
        return delta.flatten(1).norm(p=2, dim=1)

    def random_start(self, x0: Tensor, eps: Tensor, generator: torch.Generator) -> Tensor:
        # Direction uniform on the sphere (normalised Gaussian); radius eps * U^(1/d) makes the
        # point uniform in the d-dimensional ball (the volume within radius r grows as r^d).
        g = randn(x0.shape, generator, like=x0)
        direction = g / _flat_norm(g).clamp_min(_TINY)
        d = x0[0].numel()
        u = rand(torch.Size([x0.shape[0]]), generator, like=x0)
        radius = u.pow(1.0 / d).view(-1, *([1] * (x0.dim() - 1)))
        return x0 + direction * radius * eps

    def ascent_direction(self, grad: Tensor) -> Tensor:
        return grad / _flat_norm(grad).clamp_min(_TINY)

    def project(self, x: Tensor, x0: Tensor, eps: Tensor) -> Tensor:
        delta = x - x0
        factor = torch.clamp(eps / _flat_norm(delta).clamp_min(_TINY), max=1.0)
        return x0 + delta * factor


BALLS.register("linf")(LinfBall())
BALLS.register("l2")(L2Ball())
