"""The table from corruption name to implementation, filled by each family module's decorator.

Kept apart from the package ``__init__`` so the family modules can register without importing
the public API (no import cycle). Every implementation has the contract
``fn(x (N, C, H, W) float in [0, 1], params: one table row, generator) -> Tensor``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from selrob.registry import Registry

IMPLEMENTATIONS: Registry[Callable[..., Tensor]] = Registry("corruption")


def register(name: str) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    """Decorator: ``@register("fog")`` makes ``fog`` the implementation of corruption 'fog'."""
    return IMPLEMENTATIONS.register(name)
