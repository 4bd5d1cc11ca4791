"""Models selrob did not train: an importable factory plus a weights file.

Every load refuses code execution: state dicts go through ``torch.load(weights_only=True)``.
(TorchScript modules are not supported: they refuse the forward hooks that record units.)
Errors are one
:class:`~selrob.errors.InvalidArgument` line naming the problem and the fix. A model that
expects normalised input gets ``(x - mean) / std`` as a forward pre-hook, so inputs stay in
[0, 1] outside the model (as everywhere in selrob) and the model's own module names, which
``units`` globs refer to, are unchanged.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from selrob.errors import InvalidArgument
from selrob.models.common import load_tensors, state_mismatch


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (names what a probe measured)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def from_factory(source: str, kwargs_json: str = "{}") -> nn.Module:
    """``package.module:function`` called with the JSON object ``kwargs_json``."""
    module_name, sep, func_name = source.partition(":")
    if not sep or not module_name or not func_name:
        raise InvalidArgument(f"--model {source!r}: expected package.module:function")
    try:
        kwargs = json.loads(kwargs_json or "{}")
    except ValueError as e:
        raise InvalidArgument(
            f"--model-kwargs is not JSON ({e}); pass e.g. '{{\"width\": 2}}'"
        ) from None
    if not isinstance(kwargs, dict):
        raise InvalidArgument("--model-kwargs must be a JSON object, e.g. '{\"num_classes\": 10}'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to fix
        raise InvalidArgument(f"--model {source!r}: cannot import {module_name} "
                              f"({type(e).__name__}: {e}); check the name and PYTHONPATH") from None  # fmt: skip
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise InvalidArgument(f"--model {source!r}: {module_name} has no callable {func_name!r}")
    try:
        model = factory(**kwargs)
    except Exception as e:  # noqa: BLE001 - the factory's error, in one line
        raise InvalidArgument(f"--model {source!r} failed: {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise InvalidArgument(f"--model {source!r} returned a {type(model).__name__}, not an "
                              "nn.Module")  # fmt: skip
    return model


def load_state(model: nn.Module, weights: Path, key: str | None = None) -> None:
    """Load a state dict (or ``checkpoint[key]``) into ``model``; keys and shapes must fit."""
    try:
        obj = load_tensors(weights)
    except FileNotFoundError:
        raise InvalidArgument(f"--weights {weights}: no such file") from None
    except Exception as e:  # noqa: BLE001 - a pickle with code, a truncated file, not torch
        raise InvalidArgument(f"--weights {weights}: not a state dict that loads with "
                              f"weights_only=True ({type(e).__name__}: {str(e)[:120]})") from None  # fmt: skip
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            have = (
                ", ".join(map(str, list(obj)[:8])) if isinstance(obj, dict) else type(obj).__name__
            )
            raise InvalidArgument(f"--weights-key {key!r} is not in {weights} (it has: {have})")
        obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        hint = (
            " (a checkpoint? name its state dict with --weights-key)"
            if isinstance(obj, dict)
            else ""
        )
        raise InvalidArgument(f"--weights {weights} is not a state dict of tensors{hint}")
    why = state_mismatch(model, obj)
    if why:
        raise InvalidArgument(f"--weights {weights} do not fit the model ({why})")
    model.load_state_dict(obj)


def add_normalization(model: nn.Module, values: Sequence[float], channels: int) -> None:
    """``(x - mean) / std`` before ``model``'s forward; ``values``: C means then C stds."""
    if len(values) != 2 * channels:
        raise InvalidArgument(f"--normalize takes {channels} means then {channels} stds "
                              f"({2 * channels} numbers) for this dataset, got {len(values)}")  # fmt: skip
    mean = torch.tensor(values[:channels], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(values[channels:], dtype=torch.float32).view(1, -1, 1, 1)
    if bool((std <= 0).any()):
        raise InvalidArgument("--normalize: every std must be > 0")

    def normalize(_m: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x = args[0]
        return ((x - mean.to(x.device, x.dtype)) / std.to(x.device, x.dtype), *args[1:])

    model.register_forward_pre_hook(normalize)


def check_output(model: nn.Module, sample: torch.Tensor, num_classes: int) -> None:
    """One forward pass of ``sample`` (N, C, H, W) must give logits (N, num_classes)."""
    try:
        with torch.no_grad():
            out = model(sample)
    except Exception as e:  # noqa: BLE001 - the model cannot take the dataset's images
        raise InvalidArgument(f"the model fails on a batch of shape {tuple(sample.shape)}: "
                              f"{type(e).__name__}: {str(e)[:160]}") from None  # fmt: skip
    want = (sample.shape[0], num_classes)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InvalidArgument(f"the model's output is {got}, not logits {want} for this dataset")


def _is_relu(m: nn.Module) -> bool:
    """A ReLU, or the stand-in of a scripted one (:mod:`selrob.models.scripted`)."""
    return isinstance(m, nn.ReLU) or getattr(m, "original_name", None) == "ReLU"


def candidate_units(model: nn.Module, sample: torch.Tensor, limit: int = 8) -> list[str]:
    """Names of ReLU modules (else of the top-level children) that produced a 4-d output in one
    forward pass of ``sample``: suggestions for ``--units``."""
    seen: list[tuple[str, bool]] = []

    def recorder(name: str, relu: bool) -> Any:
        def hook(_m: nn.Module, _i: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor) and out.dim() == 4:
                seen.append((name, relu))

        return hook

    hooks = [m.register_forward_hook(recorder(n, _is_relu(m)))
             for n, m in model.named_modules() if n]  # fmt: skip
    try:
        with torch.no_grad():
            model(sample)
    except Exception:  # noqa: BLE001, S110 - suggestions only; check_output reports failures
        pass
    finally:
        for h in hooks:
            h.remove()
    names = list(dict.fromkeys(n for n, relu in seen if relu))
    names = names or list(dict.fromkeys(n for n, _ in seen if "." not in n))
    return names[:limit]
