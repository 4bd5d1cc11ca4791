"""The generic registry: decorator registration, ordered names, errors that list valid names."""

from __future__ import annotations

import pytest

from selrob.errors import UnknownName
from selrob.registry import Registry


def test_register_get_names_and_contains() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("b")(2)

    @reg.register("a")
    def a() -> int:
        return 1

    assert reg.names() == ["b", "a"] and reg.get("b") == 2 and reg.get("a") is a
    assert "a" in reg and "c" not in reg


def test_unknown_name_lists_the_valid_ones_and_duplicates_are_refused() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("x")(1)
    reg.register("y")(2)
    with pytest.raises(UnknownName, match="unknown widget 'z'; choose one of: x, y"):
        reg.get("z")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("x")(3)
