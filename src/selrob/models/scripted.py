"""A TorchScript model measured like a Python one: its submodules' outputs made hookable.

A loaded TorchScript module runs its submodules inside the compiled graph, where Python
forward hooks never fire (``register_forward_hook`` is refused), yet every measure of units
(selectivity, dimensionality, input-unit gradients) reads unit outputs through such hooks
(:class:`selrob.units.UnitRecorder`). :class:`ScriptedModel` bridges the two:

* for each unit module, one node is added at the end of its compiled ``forward``: it stores the
  output in an attribute of the module (``prim::SetAttr``); the value keeps its autograd graph,
  so gradients w.r.t. the input flow through it as through a hooked output;
* the wrapper mirrors the script's module tree with stand-in modules of the same names; after
  the compiled forward it hands each stored output to its stand-in, whose forward hooks then
  fire as a Python submodule's would, and clears the attribute.

TorchScript compiles methods per module *type*, so every instance of a tapped type stores its
output (and is cleared); only the asked names reach their stand-ins. No library does this
(the TorchScript docs offer hooks only when added before scripting), hence our own.
A TorchScript file is a program: load only files you trust (it is not unpickled as Python).
A file frozen with ``torch.jit.freeze`` has its submodules inlined: it has no unit modules to
name, and ``--units`` then matches nothing.
"""

from __future__ import annotations

import copy
import fnmatch
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from selrob.errors import InvalidArgument

TAP = "selrob_unit_output"
"""The attribute a tapped module stores its output in."""


class _StandIn(nn.Module):
    """The Python double of one script submodule: hooks registered here see its output."""

    def __init__(self, original_name: str) -> None:
        super().__init__()
        self.original_name = original_name  # the scripted class's name (e.g. ReLU)

    def forward(self, output: torch.Tensor) -> torch.Tensor:
        return output


class ScriptedModel(nn.Module):
    """A loaded TorchScript model whose submodules named by ``units`` globs can be hooked.

    ``units``: comma-separated ``fnmatch`` globs over the script's module names ("*": every
    submodule returning one tensor). ``named_modules()`` lists the stand-ins under the
    script's own names, so unit globs read the same as on the Python model; parameters,
    ``to()`` and ``eval()`` reach the script itself.
    """

    def __init__(self, script: torch.jit.ScriptModule, units: str = "*") -> None:
        super().__init__()
        self.__dict__["script"] = script  # not a child: hooks on its submodules are refused
        subs = dict(script.named_modules())
        for name, sub in subs.items():
            if name:
                _attach(self, name, _StandIn(str(getattr(sub, "original_name", ""))))
        globs = [g.strip() for g in units.split(",") if g.strip()]
        asked = [n for n in subs if n and any(fnmatch.fnmatchcase(n, g) for g in globs)]
        tapped = {_tap(subs[n]) for n in asked if _returns_tensor(subs[n])}
        # every instance of a tapped type stores its output: those are read and cleared
        self._stores = [n for n, m in subs.items()
                        if n and m._c._type().qualified_name() in tapped]  # fmt: skip
        for n in self._stores:
            setattr(subs[n], TAP, torch.empty(0))  # give each instance its attribute slot
        self._asked = frozenset(asked)

    def forward(self, x: torch.Tensor) -> Any:
        out = self.script(x)
        for name in self._stores:
            sub = _script_submodule(self.script, name)
            value = getattr(sub, TAP)
            setattr(sub, TAP, torch.empty(0))  # keep no activation beyond this forward
            if name in self._asked and value.numel():
                self.get_submodule(name)(value)  # fires the stand-in's hooks with the output
        return out

    def __deepcopy__(self, memo: dict[int, Any]) -> ScriptedModel:
        """A copy sharing nothing; its script's parameters are leaves as the original's
        (TorchScript's own deepcopy clones them with an autograd history)."""
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key == "script":
                with torch.no_grad():
                    value = copy.deepcopy(value, memo)
                for a, b in zip(self.script.parameters(), value.parameters(), strict=True):
                    b.requires_grad_(a.requires_grad)
                new.__dict__[key] = value
            else:
                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        return self.script.parameters(recurse)

    def named_parameters(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, nn.Parameter]]:
        return self.script.named_parameters(*args, **kwargs)

    def train(self, mode: bool = True) -> ScriptedModel:
        self.script.train(mode)
        return super().train(mode)

    def _apply(self, fn: Any, recurse: bool = True) -> ScriptedModel:
        self.__dict__["script"] = self.script._apply(fn)  # .to(), .cuda(), memory formats
        return super()._apply(fn, recurse)


def load_torchscript(path: Path, units: str = "*") -> ScriptedModel:
    """``torch.jit.load`` on the CPU, wrapped; one clear line when the file is not TorchScript."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"--torchscript {path}: no such file")
    try:
        script = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, zipfile.BadZipFile) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise InvalidArgument(f"--torchscript {path} is not a TorchScript file ({first}); "
                              "save one with torch.jit.script(model).save(path)") from None  # fmt: skip
    if not isinstance(script, torch.jit.ScriptModule):
        raise InvalidArgument(f"--torchscript {path} holds no TorchScript module")
    return ScriptedModel(script, units)


def _script_submodule(script: torch.jit.ScriptModule, name: str) -> Any:
    """The submodule at dotted ``name`` (ScriptModules refuse ``get_submodule``)."""
    for part in name.split("."):
        script = getattr(script, part)
    return script


def _attach(root: nn.Module, name: str, module: nn.Module) -> None:
    """Register ``module`` at dotted ``name`` under ``root`` (parents are added first, as
    ``named_modules`` lists parents before children)."""
    *parents, leaf = name.split(".")
    node = root
    for p in parents:
        node = node._modules[p]  # type: ignore[assignment]
    node.add_module(leaf, module)


def _returns_tensor(sub: torch.jit.ScriptModule) -> bool:
    try:
        graph = sub._c._get_method("forward").graph
    except RuntimeError:  # a module without forward (e.g. a ModuleDict)
        return False
    outs = list(graph.outputs())
    return len(outs) == 1 and isinstance(outs[0].type(), torch._C.TensorType)


def _tap(sub: torch.jit.ScriptModule) -> Any:
    """Make the compiled forward of ``sub``'s type store its output in :data:`TAP`; returns
    the type's qualified name."""
    kind = sub._c._type().qualified_name()
    if not sub._c.hasattr(TAP):  # the first instance of its type here
        sub._c._register_attribute(TAP, torch._C.TensorType.get(), torch.empty(0))
        graph = sub._c._get_method("forward").graph
        ret = graph.return_node()
        node = graph.create("prim::SetAttr", [next(iter(graph.inputs())), ret.inputsAt(0)], 0)
        node.s_("name", TAP)
        node.insertBefore(ret)
    return kind
