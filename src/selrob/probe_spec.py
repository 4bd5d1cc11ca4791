"""The spec of a probe: a model selrob did not train, measured on one dataset (no torch).

A probe's run directory is named by the hash of this spec, like a trained run's, so it records
what was measured: the model's factory and its arguments (or ``torchscript``), the SHA-256 of
the weights file (or of the TorchScript file), the input normalisation, the units, the dataset
and the seed of every random stream of the evaluation (corruption noise, attack starts,
analysis subsets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from selrob.config import spec_field as _f
from selrob.errors import InvalidArgument

TORCHSCRIPT = "torchscript"
"""``model_source`` of a model read from a TorchScript file (its SHA-256 in ``weights_sha256``)."""


@dataclass(frozen=True)
class ProbeSpec:
    """A model from ``model_source`` (``package.module:function`` with weights, or
    ``torchscript``: a TorchScript file), measured."""

    model_source: str = _f("", "the model's factory (package.module:function) or torchscript")
    model_kwargs: str = _f("{}", "keyword arguments of the factory, as a JSON object")
    weights_sha256: str | None = _f(None, "SHA-256 of the weights file (set by selrob probe)")
    weights_key: str | None = _f(None, "the key of the state dict inside a checkpoint dict")
    dataset: str = _f("fashion-mnist", "dataset the model is measured on")
    normalize: tuple[float, ...] = _f((), "C means then C stds the model expects its input in")
    units: str = _f("default", "which modules are units: 'default' or a comma list of name globs")
    seed: int = _f(0, "seed of the evaluation's corruption noise, attack starts and subsets")

    def validate(self) -> None:
        """InvalidArgument when a field is out of range."""
        if self.model_source == TORCHSCRIPT:
            if self.model_kwargs != "{}" or self.weights_key is not None:
                raise InvalidArgument("a TorchScript file carries its model and weights: "
                                      "drop --model-kwargs and --weights-key")  # fmt: skip
        elif ":" not in self.model_source:
            raise InvalidArgument("model_source must be package.module:function or torchscript")
        if not all(math.isfinite(v) for v in self.normalize):
            raise InvalidArgument("normalize values must be finite")

    @property
    def label(self) -> str:
        """How reports name the probe: the factory and the first digits of its weights."""
        sha = f"@{self.weights_sha256[:8]}" if self.weights_sha256 else ""
        return f"{self.model_source}{sha}"
