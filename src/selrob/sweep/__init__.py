"""Sweep definitions: an alpha x seed grid over one training recipe and one evaluation.

A sweep file is flat TOML (read with :mod:`tomllib`). Its keys are every
:class:`~selrob.config.TrainSpec` field except ``alpha`` and ``seed``, every
:class:`~selrob.config.EvalSpec` field (``limit_test`` sets both specs), plus

* ``alphas``: a non-empty list of numbers (the regulariser weights),
* ``seeds``: a list of integers, or an integer N meaning seeds 0..N-1,
* ``name`` (optional; default: the file's stem),
* ``variants`` (optional): a list of tables of TrainSpec fields (``[[variants]]`` in TOML),
  each a variant of the training recipe run over the whole grid, e.g. one per
  ``train_mode``; without it the grid has the one recipe.

List-valued fields also accept the CLI's strings (``severities = "1-5"``,
``corruptions = "all"``). Errors name the key and its line in the file. The packaged sweeps
(:data:`BUILTIN_SWEEPS`, files in ``sweep/builtin/``) are found with :func:`builtin_sweep`.

This module reads sweeps and imports no torch. Running one lives in
:mod:`selrob.sweep.executors` (``run_sweep``: local processes) and :mod:`selrob.sweep.ray`.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.resources
import math
import re
import tomllib
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selrob.config import EvalSpec, TrainSpec, base_type, coerce, to_dict
from selrob.enums import choices
from selrob.errors import InvalidArgument, UnknownName

__all__ = [
    "BUILTIN_SWEEPS",
    "Sweep",
    "builtin_sweep",
    "load_sweep",
    "resolve_sweep_path",
    "sweep_from_dict",
]

BUILTIN_SWEEPS = ("demo", "paper-cifar10", "paper-tinyimagenet", "reproduce", "robust-training")
_GRID_KEYS = ("alpha", "seed")
_TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(TrainSpec) if f.name not in _GRID_KEYS)
_EVAL_KEYS = tuple(f.name for f in dataclasses.fields(EvalSpec))
_OWN_KEYS = ("alphas", "seeds", "name", "variants")
VALID_KEYS = tuple(sorted({*_TRAIN_KEYS, *_EVAL_KEYS, *_OWN_KEYS}))


@dataclass(frozen=True)
class Sweep:
    """One training recipe (``base``, its alpha/seed ignored) x ``alphas`` x ``seeds``, one evaluation."""

    base: TrainSpec
    eval_spec: EvalSpec
    alphas: tuple[float, ...]
    seeds: tuple[int, ...]
    name: str = "sweep"
    variants: tuple[dict[str, Any], ...] = ()  # TrainSpec fields over ``base``; () = base only

    def __post_init__(self) -> None:
        object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "variants", tuple(dict(v) for v in self.variants))
        _check_grid(self.alphas, self.seeds, lambda key: f"sweep {self.name!r}: ")
        recipes = [to_dict(b) for b in self.recipes()]
        if any(recipes.count(r) > 1 for r in recipes):
            raise InvalidArgument(f"sweep {self.name!r}: two variants are the same recipe; "
                                  "remove the repeat")  # fmt: skip
        if self.base.limit_test != self.eval_spec.limit_test:
            raise InvalidArgument(
                f"sweep {self.name!r}: limit_test differs between training ({self.base.limit_test}) "
                f"and evaluation ({self.eval_spec.limit_test}); a sweep uses one value for both"
            )

    def recipes(self) -> list[TrainSpec]:
        """The training recipes: ``base`` with each variant's fields (just ``base`` without)."""
        return [dataclasses.replace(self.base, **v) for v in self.variants] or [self.base]

    def runs(self) -> list[TrainSpec]:
        """Every run's spec, seed-major: all alphas (of every variant) of the first seed, then
        the next seed, ... So the runs finished first already cover the whole grid.
        """
        return [
            dataclasses.replace(base, alpha=float(a), seed=int(s))
            for s in self.seeds
            for base in self.recipes()
            for a in self.alphas
        ]

    def to_dict(self) -> dict[str, Any]:
        """The flat form of a sweep file (``sweep_from_dict(s.to_dict()) == s``)."""
        train = {k: v for k, v in to_dict(self.base).items() if k not in _GRID_KEYS}
        out = {
            "name": self.name,
            "alphas": list(self.alphas),
            "seeds": list(self.seeds),
            **train,
            **to_dict(self.eval_spec),
        }
        if self.variants:
            out["variants"] = [
                {k: list(v) if isinstance(v, tuple) else v for k, v in var.items()}
                for var in self.variants
            ]
        return out


def sweep_from_dict(d: dict[str, Any], *, name: str = "sweep") -> Sweep:
    """Build a :class:`Sweep` from a flat dict of sweep-file keys; ``name``: used when ``d`` has none."""
    return _parse(d, lambda key: "sweep: ", default_name=name)


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep TOML file; InvalidArgument naming the key and line for any bad entry."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidArgument(
            f"no sweep file {path}; pass a .toml file or a built-in sweep ({', '.join(BUILTIN_SWEEPS)})"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgument(
            f"cannot read sweep file {path} ({e}); pass a UTF-8 text file"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"{path}: not valid TOML: {e}; fix the syntax there") from None
    return _parse(
        data,
        lambda key: f"{path}:{_line_of(text, key)}: " if key else f"{path}: ",
        default_name=path.stem,
    )


def resolve_sweep_path(arg: str | Path) -> Path:
    """A path to an existing file, else a built-in sweep's name -> its packaged file."""
    p = Path(arg)
    if p.exists() or str(arg) not in BUILTIN_SWEEPS:
        return p
    return builtin_sweep(str(arg))


def builtin_sweep(name: str) -> Path:
    """Path of a packaged sweep file (one of :data:`BUILTIN_SWEEPS`)."""
    if name not in BUILTIN_SWEEPS:
        raise UnknownName(
            f"unknown built-in sweep {name!r}; choose one of: {', '.join(BUILTIN_SWEEPS)}"
        )
    res = importlib.resources.files("selrob.sweep").joinpath("builtin", f"{name}.toml")
    if not res.is_file():
        raise InvalidArgument(f"the packaged sweep {name}.toml is missing; reinstall selrob")
    return Path(str(res))


# --------------------------------------------------------------------------- parsing


def _line_of(text: str, key: str) -> str:
    """1-based line of ``key = ...`` (or a ``[key]`` table) in ``text``; '?' if not found."""
    k = re.escape(key)
    pat = re.compile(rf"""^\s*(?:["']?{k}["']?\s*=|\[+\s*["']?{k}["']?\s*\]+)""")
    for i, line in enumerate(text.splitlines(), 1):
        if pat.match(line):
            return str(i)
    return "?"


def _parse(d: dict[str, Any], where: Callable[[str], str], *, default_name: str) -> Sweep:
    if not isinstance(d, dict):
        raise InvalidArgument(f"{where('')}a sweep must be a table of keys, got {type(d).__name__}")
    for key in d:
        if key not in VALID_KEYS:
            hint = f" (a sweep takes '{key}s', a list)" if key in _GRID_KEYS else ""
            raise InvalidArgument(
                f"{where(key)}unknown key {key!r}{hint}; valid keys: {', '.join(VALID_KEYS)}"
            )
    for key in ("alphas", "seeds"):
        if key not in d:
            raise InvalidArgument(
                f"{where('')}missing key {key!r}; add e.g. {key} = {_EXAMPLE[key]}"
            )
    alphas = _alphas(d["alphas"], where)
    seeds = _seeds(d["seeds"], where)
    name = d.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"{where('name')}key 'name' expects a non-empty string, got {name!r}")
    train = {k: _field(TrainSpec, k, v, where) for k, v in d.items() if k in _TRAIN_KEYS}
    ev = {k: _field(EvalSpec, k, v, where) for k, v in d.items() if k in _EVAL_KEYS}
    variants = _variants(d.get("variants", []), where)
    try:
        return Sweep(TrainSpec(**train), EvalSpec(**ev), alphas, seeds, name, variants)
    except InvalidArgument as e:
        raise InvalidArgument(f"{where('')}{e}") from None


_EXAMPLE = {"alphas": "[-1.0, 0.0, 1.0]", "seeds": "3"}


def _variants(v: Any, where: Callable[[str], str]) -> tuple[dict[str, Any], ...]:
    """``variants``: a list of tables of TrainSpec fields (not alpha, seed or limit_test)."""
    if not isinstance(v, list) or not all(isinstance(t, dict) and t for t in v):
        raise InvalidArgument(f"{where('variants')}key 'variants' expects a list of non-empty "
                              "tables of training fields, e.g. [[variants]] train_mode = \"noise\"")  # fmt: skip
    out = []
    for table in v:
        bad = [k for k in table if k not in _TRAIN_KEYS or k == "limit_test"]
        if bad:
            raise InvalidArgument(f"{where('variants')}a variant may set training fields only, "
                                  f"not {bad[0]!r}")  # fmt: skip
        out.append({k: _field(TrainSpec, k, val, where) for k, val in table.items()})
    return tuple(out)


def _field(cls: type, key: str, value: Any, where: Callable[[str], str]) -> Any:
    """Coerce one value to the field's type; strings are refused for scalar number/bool fields."""
    tp = base_type(typing.get_type_hints(cls)[key])[0]
    if isinstance(value, str) and tp in (int, float, bool):
        raise InvalidArgument(
            f"{where(key)}key {key!r} expects {_describe(tp)}, got the string {value!r}"
        )
    try:
        return coerce(cls, key, value)
    except InvalidArgument:
        raise InvalidArgument(
            f"{where(key)}key {key!r} expects {_describe(tp)}, got {value!r}"
        ) from None


_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_PLURALS = {int: "integers", float: "numbers", bool: "booleans", str: "strings"}


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return f"a list of {_PLURALS.get(typing.get_args(tp)[0], 'values')}"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return choices(tp)
    return _NAMES.get(tp, str(tp))


def _alphas(v: Any, where: Callable[[str], str]) -> tuple[float, ...]:
    loc = where("alphas")
    if not isinstance(v, list | tuple):
        raise InvalidArgument(f"{loc}key 'alphas' expects a list of numbers, got {v!r}")
    if not v:
        raise InvalidArgument(
            f"{loc}the alpha grid is empty; list at least one alpha, e.g. alphas = [0.0]"
        )
    bad = [
        a
        for a in v
        if isinstance(a, bool) or not isinstance(a, int | float) or not math.isfinite(a)
    ]
    if bad:
        raise InvalidArgument(f"{loc}key 'alphas' expects finite numbers, got {bad[0]!r}")
    out = tuple(float(a) for a in v)
    _check_grid(out, (0,), where)
    return out


def _seeds(v: Any, where: Callable[[str], str]) -> tuple[int, ...]:
    loc = where("seeds")
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 1:
            raise InvalidArgument(
                f"{loc}seeds = {v} gives no runs; use an integer >= 1 or a list of seeds"
            )
        return tuple(range(v))
    if not isinstance(v, list | tuple) or not v:
        raise InvalidArgument(
            f"{loc}key 'seeds' expects an integer N (seeds 0..N-1) or a non-empty list of integers, got {v!r}"
        )
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in v):
        raise InvalidArgument(f"{loc}key 'seeds' expects non-negative integers, got {v!r}")
    _check_grid((0.0,), tuple(v), where)
    return tuple(v)


def _check_grid(
    alphas: tuple[float, ...], seeds: tuple[int, ...], where: Callable[[str], str]
) -> None:
    """Reject an empty grid or repeated values (two identical runs would share a directory)."""
    for key, vals in (("alphas", alphas), ("seeds", seeds)):
        if not vals:
            raise InvalidArgument(f"{where(key)}{key} is empty; list at least one value")
        dup = sorted({v for v in vals if list(vals).count(v) > 1})
        if dup:
            raise InvalidArgument(
                f"{where(key)}{key} lists {dup[0]!r} more than once; remove the repeat"
            )
