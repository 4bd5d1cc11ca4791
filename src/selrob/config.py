"""Frozen run specifications: their range checks, canonical JSON and hash, and coercion.

No torch import here. Each field carries its one-line help, from which ``selrob.cli.flags``
makes the command-line flags, so a flag and a setting cannot drift apart. A spec's directory name is the hash of its canonical JSON
(open_lth's convention): fields whose value equals the dataclass default are left out of
the hash, so adding a new field with a default keeps every old hash valid. Each spec checks
its own ranges (``validate``); names that live in registries (datasets, models, attacks,
corruptions) are checked where those registries are, before anything is written.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from selrob.enums import Norm, Precision, Schedule, TrainMode, choices
from selrob.errors import InvalidArgument

S = TypeVar("S")


def spec_field(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse's name
    """A dataclass field carrying its one-line CLI help."""
    return field(default=default, metadata={"help": help})


_f = spec_field


@dataclass(frozen=True)
class TrainSpec:
    """Everything that determines a trained network (data, model, optimisation, regulariser).

    ``None`` means "the preset default for this dataset/model pair" (see :mod:`selrob.presets`);
    specs are resolved before hashing, so the directory always names concrete values.
    """

    dataset: str = _f("fashion-mnist", "dataset name (fashion-mnist, mnist, cifar10, tinyimagenet)")
    model: str = _f("resnet20", "model name (resnet20, resnet18, small_cnn)")
    width: float = _f(1.0, "channel width multiplier of the model")
    alpha: float = _f(0.0, "selectivity regulariser weight: loss = CE - alpha * mean SI")
    seed: int = _f(0, "seed for data order, initialisation, augmentation")
    epochs: int | None = _f(None, "training epochs (default: preset for the dataset)")
    batch_size: int | None = _f(None, "minibatch size (default: preset)")
    lr: float | None = _f(None, "peak learning rate of SGD (default: preset)")
    momentum: float = _f(0.9, "SGD momentum")
    weight_decay: float | None = _f(None, "L2 weight decay (default: preset)")
    schedule: Schedule | None = _f(None, "learning-rate schedule: step or cosine (default: preset)")
    milestones: tuple[int, ...] | None = _f(
        None, "epochs at which a step schedule multiplies lr by 0.1"
    )
    warmup_epochs: int = _f(0, "linear learning-rate warm-up epochs")
    augment: bool | None = _f(None, "random crop (pad 4) + flip augmentation (default: preset)")
    limit_train: int | None = _f(None, "train on the first N training examples only")
    limit_test: int | None = _f(None, "per-epoch test accuracy on the first N test examples only")
    units: str = _f("default", "which modules are units: 'default' or a comma list of name globs")
    channels_last: bool = _f(
        False, "train in channels_last memory format (faster on CPU; other float rounding)"
    )
    train_precision: Precision = _f(
        Precision.FLOAT32,
        "precision of training's forward passes: float32, or bfloat16 autocast (fast on GPUs; "
        "loss and selectivity in float32; other float rounding)",
    )
    train_mode: TrainMode = _f(
        TrainMode.STANDARD,
        "robustness training: standard, adversarial (PGD), noise (Gaussian) or corruptions",
    )
    at_eps: float | None = _f(
        None, "adversarial: PGD radius in pixel units (default: the dataset's, 0.1 for MNISTs)"
    )
    at_steps: int = _f(7, "adversarial: PGD steps (step size 2.5 * at_eps / at_steps)")
    at_norm: Norm = _f(Norm.LINF, "adversarial: threat model, linf or l2")
    noise_sigma: float = _f(0.1, "noise: standard deviation of the Gaussian noise, pixel units")
    train_corruptions: tuple[str, ...] = _f(
        ("all",), "corruptions: the suite to draw from (names, or all)"
    )
    hold_out: tuple[str, ...] = _f(
        (), "corruptions: names or families (noise, blur, weather, digital, extra) never trained on"
    )
    train_severities: tuple[int, ...] = _f((1, 2, 3, 4, 5), "corruptions: severities drawn")

    def validate(self) -> None:
        """Range checks of a resolved spec (no preset ``None`` left); InvalidArgument if one fails."""
        self._validate_mode()
        checks = [
            (self.epochs is not None and self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size is not None and self.batch_size >= 2, "batch size must be >= 2"),
            (self.lr is not None and self.lr > 0, "learning rate must be > 0"),
            (self.width > 0, "width must be > 0"),
            (self.limit_train is None or self.limit_train >= 2, "limit_train must be >= 2"),
            (self.limit_test is None or self.limit_test >= 1, "limit_test must be >= 1"),
            (self.schedule in tuple(Schedule), f"schedule must be {choices(Schedule)}"),
            (
                self.train_precision in tuple(Precision),
                f"train_precision must be {choices(Precision)}",
            ),
            (all(map(math.isfinite, [self.alpha, self.lr or 1.0])), "alpha and lr must be finite"),
        ]
        for ok, msg in checks:
            if not ok:
                raise InvalidArgument(msg)

    def _validate_mode(self) -> None:
        """The train mode's options; another mode's option set is an error (it would name a
        second run directory for the same network)."""
        if self.train_mode not in tuple(TrainMode):
            raise InvalidArgument(f"train_mode must be {choices(TrainMode)}")
        for f in dataclasses.fields(self):
            mode = _MODE_OPTIONS.get(f.name)
            if mode and self.train_mode != mode and getattr(self, f.name) != f.default:
                raise InvalidArgument(
                    f"{f.name} applies to train_mode {mode} only (this run is {self.train_mode})"
                )
        for ok, msg in [
            (self.at_eps is None or (math.isfinite(self.at_eps) and self.at_eps > 0),
             "at_eps must be > 0"),
            (self.at_steps >= 1, "at_steps must be >= 1"),
            (math.isfinite(self.noise_sigma) and self.noise_sigma > 0, "noise_sigma must be > 0"),
            (bool(self.train_severities) and all(1 <= v <= 5 for v in self.train_severities),
             "train_severities must be in 1..5"),
        ]:  # fmt: skip
            if not ok:
                raise InvalidArgument(msg)


_MODE_OPTIONS = {"at_eps": "adversarial", "at_steps": "adversarial", "at_norm": "adversarial",
                 "noise_sigma": "noise", "train_corruptions": "corruptions",
                 "hold_out": "corruptions", "train_severities": "corruptions"}  # fmt: skip
"""The TrainSpec fields that belong to one train mode."""


DRAW_BATCH = 256
"""Batch size of the evaluation sections whose random draws are made per batch (attack starts,
the analyses' perturbations) when ``eval_batch_size`` is not set: their numbers depend on it,
so another value is recorded in those sections' parameters."""
FORWARD_BATCH = {"cpu": 256, "cuda": 1024}
"""Batch size of forward-only passes (clean, corruptions) per device type when
``eval_batch_size`` is not set; their numbers do not depend on it (corruption noise is drawn
per fixed block of images, :data:`selrob.analysis.corruption_robustness.NOISE_BLOCK`)."""


@dataclass(frozen=True)
class EvalSpec:
    """What ``selrob evaluate`` measures on a trained run."""

    limit_test: int | None = _f(None, "evaluate on the first N test examples only")
    eval_batch_size: int | None = _f(
        None,
        "batch size of evaluation (default: forward passes 256 on CPU, 1024 on CUDA; attacks "
        "and analyses 256, as their random draws are per batch)",
    )
    eval_precision: Precision = _f(
        Precision.FLOAT32,
        "precision of the forward-only passes (clean, corruptions): float32 or bfloat16; "
        "attacks and analyses stay float32",
    )
    corruptions: tuple[str, ...] = _f((), "corruptions to evaluate: names, or 'all'")
    severities: tuple[int, ...] = _f((1, 2, 3, 4, 5), "corruption severities (e.g. 1-5 or 1,3,5)")
    corrupted_dir: str | None = _f(
        None,
        "read corruptions from a published set (CIFAR-10-C / Tiny-ImageNet-C layout) instead of generating them",
    )
    attacks: tuple[str, ...] = _f((), "attacks to evaluate: fgsm, pgd")
    norm: Norm = _f(Norm.LINF, "threat model of the attacks: linf or l2")
    epsilons: tuple[float, ...] | None = _f(
        None, "attack budgets in pixel units (default: dataset grid)"
    )
    pgd_steps: int = _f(10, "PGD iterations")
    pgd_step_size: float | None = _f(None, "PGD step in pixel units (default 2.5 * eps / steps)")
    pgd_restarts: int = _f(1, "PGD random restarts (worst case kept per example)")
    attack_samples: int | None = _f(None, "attack only the first N of the evaluated test images")
    analyses: tuple[str, ...] = _f((), "mechanism analyses: dimensionality, gradients")
    analysis_samples: int = _f(1000, "test inputs used for the dimensionality analysis")
    gradient_samples: int = _f(200, "test inputs used for the input-unit gradient analysis")
    gradient_units: int | None = _f(
        None, "units per layer in the gradient analysis (seeded sample)"
    )
    analysis_severity: int = _f(3, "corruption severity pooled in the dimensionality analysis")
    analysis_epsilon: float | None = _f(None, "attack budget used in the dimensionality analysis")

    def validate(self) -> None:
        """Range checks (severities, budgets, PGD settings); InvalidArgument if one fails."""
        for s in self.severities:
            if not 1 <= s <= 5:
                raise InvalidArgument(f"severity {s} is outside 1..5")
        if self.epsilons and any(not (e >= 0 and math.isfinite(e)) for e in self.epsilons):
            raise InvalidArgument("epsilons must be >= 0 and finite (pixel units, e.g. 8/255)")
        if self.attacks and (self.pgd_steps < 1 or self.pgd_restarts < 1):
            raise InvalidArgument("pgd_steps and pgd_restarts must be >= 1")
        if self.attacks and self.pgd_step_size is not None and not self.pgd_step_size > 0:
            raise InvalidArgument(f"pgd_step_size must be > 0, got {self.pgd_step_size}")
        for name in ("attack_samples", "gradient_units", "eval_batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidArgument(f"{name} must be >= 1, got {value}")
        if self.analysis_epsilon is not None and not self.analysis_epsilon > 0:
            raise InvalidArgument(f"analysis_epsilon must be > 0, got {self.analysis_epsilon}")


@dataclass(frozen=True)
class Runtime:
    """How and where to run; never part of a run's identity."""

    device: str = _f("auto", "compute device: auto, cpu, cuda or cuda:N")
    data_dir: str | None = _f(None, "dataset directory (default: the dataset's standard location)")
    quiet: bool = _f(False, "no progress bars")
    threads: int | None = _f(None, "CPU threads for torch (default: all cores)")


# --------------------------------------------------------------------------- canonical form


def to_dict(spec: Any) -> dict[str, Any]:
    """Spec -> plain JSON-able dict (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(spec):
        v = getattr(spec, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def canonical_json(spec: Any) -> str:
    """Sorted, compact JSON of the non-default fields: the identity of a spec."""
    d = {
        f.name: getattr(spec, f.name)
        for f in dataclasses.fields(spec)
        if getattr(spec, f.name) != f.default
    }
    d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def spec_hash(spec: Any) -> str:
    """16 hex digits of the SHA-256 of :func:`canonical_json`: the run directory's name."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:16]


def base_type(tp: Any) -> tuple[Any, bool]:
    """Strip ``| None``; return (type, optional)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def coerce(cls: type, name: str, value: Any) -> Any:
    """Convert a JSON/TOML/CLI value to the declared type of ``cls.name``; InvalidArgument if not."""
    hints = typing.get_type_hints(cls)
    tp, optional = base_type(hints[name])
    if value is None:
        if optional:
            return None
        raise InvalidArgument(f"{name} may not be empty")
    try:
        if typing.get_origin(tp) is tuple:
            (inner,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
            if isinstance(value, str):
                value = _split_list(value, inner)
            if not isinstance(value, list | tuple):
                value = [value]
            return tuple(_scalar(inner, v, name) for v in value)
        return _scalar(tp, value, name)
    except (TypeError, ValueError) as e:
        what = tp.__name__ if isinstance(tp, type) else str(tp)
        raise InvalidArgument(f"{name}: cannot read {value!r} as {what}: {e}") from None


def _scalar(tp: Any, v: Any, name: str) -> Any:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if v not in {m.value for m in tp}:
            raise ValueError(f"expected {choices(tp)}")
        return tp(v)
    if tp is bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in {"true", "false", "1", "0", "yes", "no"}:
            return v.lower() in {"true", "1", "yes"}
        raise ValueError("expected true or false")
    if tp is int and isinstance(v, float) and not v.is_integer():
        raise ValueError("expected an integer")
    if tp in (int, float) and isinstance(v, bool):
        raise ValueError("expected a number")
    if tp is str and not isinstance(v, str):
        raise ValueError("expected a string")
    return tp(v)


def _split_list(text: str, inner: Any) -> list[Any]:
    """'1-5' -> [1..5] for ints; '0,1/255,0.1' -> floats (fractions allowed); 'a,b' -> strings."""
    items: list[Any] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if inner is int and "-" in part[1:]:
            lo, hi = part.split("-", 1)
            items.extend(range(int(lo), int(hi) + 1))
        elif inner is float and "/" in part:
            num, den = part.split("/", 1)
            items.append(float(num) / float(den))
        else:
            items.append(part)
    return items


def from_dict(cls: type[S], d: dict[str, Any], *, strict: bool = True) -> S:
    """Build ``cls`` from a dict, coercing types; unknown keys raise InvalidArgument."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - names)
    if unknown and strict:
        raise InvalidArgument(f"unknown field(s) {', '.join(unknown)} for {cls.__name__}")
    return cls(**{k: coerce(cls, k, v) for k, v in d.items() if k in names})
