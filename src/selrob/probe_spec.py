"""The spec of a probe: a model selrob did not train, measured on one dataset (no torch).

A probe's run directory is named by the hash of this spec, like a trained run's, so it records
what was measured: the model's factory and its arguments, the SHA-256 of the weights file, the
input normalisation, the units, the dataset and the seed of every random stream of the
evaluation (corruption noise, attack starts, analysis subsets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from selrob.config import spec_field as _f
from selrob.errors import InvalidArgument


@dataclass(frozen=True)
class ProbeSpec:
    """A model from ``model_source`` (``package.module:function``) with weights, measured."""

    model_source: str = _f("", "the model's factory: package.module:function")
    model_kwargs: str = _f("{}", "keyword arguments of the factory, as a JSON object")
    weights_sha256: str | None = _f(None, "SHA-256 of the weights file (set by selrob probe)")
    weights_key: str | None = _f(None, "the key of the state dict inside a checkpoint dict")
    dataset: str = _f("fashion-mnist", "dataset the model is measured on")
    normalize: tuple[float, ...] = _f((), "C means then C stds the model expects its input in")
    units: str = _f("default", "which modules are units: 'default' or a comma list of name globs")
    seed: int = _f(0, "seed of the evaluation's corruption noise, attack starts and subsets")

    def validate(self) -> None:
        """InvalidArgument when a field is out of range."""
        if ":" not in self.model_source:
            raise InvalidArgument("model_source must be package.module:function")
        if not all(math.isfinite(v) for v in self.normalize):
            raise InvalidArgument("normalize values must be finite")

    @property
    def label(self) -> str:
        """How reports name the probe: the factory and the first digits of its weights."""
        sha = f"@{self.weights_sha256[:8]}" if self.weights_sha256 else ""
        return f"{self.model_source}{sha}"
