"""One generic name -> object registry; unknown names fail listing the valid ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from selrob.errors import UnknownName

T = TypeVar("T")


class Registry(Generic[T]):
    """A small registry of named factories/objects (timm-style decorator registration).

    >>> models = Registry("model")
    >>> @models.register("tiny")
    ... def tiny(): ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """Return the object registered as ``name``; raise UnknownName listing the valid names."""
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise UnknownName(f"unknown {self.kind} {name!r}; choose one of: {valid}") from None

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
