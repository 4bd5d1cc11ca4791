"""Which modules are "units", and recording their activations with forward hooks.

A unit is one channel of a recorded module's output, averaged over its spatial positions
(or one feature of a flat output). The default units of a selrob model are listed in its
``unit_layers`` (stem + every residual block after its final ReLU; ``docs/method.md``); any
other ``nn.Module`` can be used by passing comma-separated name globs (``fnmatch``) over
``model.named_modules()``. Shared by the regulariser and every analysis, so they cannot
disagree about what a unit is. The argument is called ``units`` everywhere (as the spec field).
"""

from __future__ import annotations

import fnmatch
from types import TracebackType

import torch
from torch import nn

from selrob.errors import InvalidArgument
from selrob.models.common import eval_mode


def unit_layer_names(model: nn.Module, units: str = "default") -> list[str]:
    """Names of the modules whose outputs are units, in forward order of ``named_modules``.

    ``units``: "default" (the model's ``unit_layers``) or a comma list of globs, e.g.
    ``"layer*.?"`` or ``"features.3,features.7"``.
    """
    if units == "default":
        names = getattr(model, "unit_layers", None)
        if not names:
            raise InvalidArgument(
                f"{type(model).__name__} has no unit_layers; pass units as name globs, e.g. --units 'layer*'"
            )
        return list(names)
    globs = [g.strip() for g in units.split(",") if g.strip()]
    names = [
        n for n, _ in model.named_modules() if n and any(fnmatch.fnmatchcase(n, g) for g in globs)
    ]
    if not names:
        raise InvalidArgument(
            f"no module of {type(model).__name__} matches units pattern {units!r}"
        )
    return names


class UnitRecorder:
    """Context manager recording the recorded modules' outputs during forward passes.

    After a forward pass, ``recorder.acts[name]`` is the spatial mean ``(N, U)`` (graph kept, so
    the regulariser can backpropagate through it); with ``keep_maps=True`` also
    ``recorder.maps[name]``: the full output ``(N, U, H, W)``. Each forward overwrites the last.

    >>> with UnitRecorder(model) as rec:
    ...     logits = model(x)
    ...     rec.acts["layer1.0"].shape  # (N, 16)
    """

    def __init__(self, model: nn.Module, units: str = "default", keep_maps: bool = False) -> None:
        self.model = model
        self.names = unit_layer_names(model, units)
        self.keep_maps = keep_maps
        self.acts: dict[str, torch.Tensor] = {}
        self.maps: dict[str, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str):  # noqa: ANN202 - returns a torch hook
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            out = output[0] if isinstance(output, tuple) else output
            self.acts[name] = out.mean(dim=(2, 3)) if out.dim() == 4 else out.flatten(1)
            if self.keep_maps:
                self.maps[name] = out

        return hook

    def __enter__(self) -> UnitRecorder:
        modules = dict(self.model.named_modules())
        for name in self.names:
            self._handles.append(modules[name].register_forward_hook(self._hook(name)))
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


def unit_counts(model: nn.Module, sample: torch.Tensor, units: str = "default") -> dict[str, int]:
    """Number of units per recorded layer, found with one forward pass of ``sample`` (1, C, H, W)."""
    with eval_mode(model), torch.no_grad(), UnitRecorder(model, units) as rec:
        model(sample)
    return {k: v.shape[1] for k, v in rec.acts.items()}
