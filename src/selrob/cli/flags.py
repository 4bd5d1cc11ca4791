"""Command-line flags generated from the fields of a spec dataclass (``selrob.config``).

One ``--flag`` per field, with the field's help and default; a flag left out is unset (None),
so the spec's own default or preset applies.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, TypeVar

from selrob.config import base_type, from_dict

S = TypeVar("S")


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per field of ``cls`` (help from the field; default None = unset)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        tp, _ = base_type(hints[f.name])
        help_ = f"{f.metadata.get('help', '')} [default: {f.default}]"
        if tp is bool:
            parser.add_argument(
                flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_
            )
        else:
            parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help_)


def from_args(cls: type[S], ns: argparse.Namespace, **overrides: Any) -> S:
    """Build ``cls`` from parsed flags (only those given) plus overrides."""
    d = {
        f.name: getattr(ns, f.name)
        for f in dataclasses.fields(cls)
        if getattr(ns, f.name, None) is not None
    }  # type: ignore[arg-type]
    d.update(overrides)
    return from_dict(cls, d)
