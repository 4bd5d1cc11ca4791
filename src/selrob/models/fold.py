"""A frozen inference copy of a model: batch norm folded into convolutions, channels_last.

In eval mode a ``Conv2d`` followed by ``BatchNorm2d`` is one affine map, so the pair can be
replaced by a single convolution (``torch.nn.utils.fusion.fuse_conv_bn_eval``) and the batch
norm by ``nn.Identity``. On the CPU that, frozen parameters (no weight gradients are built
during input-gradient backward passes) and channels_last convolutions together make forward
and input-gradient backward passes markedly faster (measured in ``benchmarks/attacks.py`` and
``benchmarks/analyses.py``; figures in ``docs/performance.md``).

Unlike ``torch.fx``'s ``fuse``, which returns a flat ``GraphModule``, the fold is done in place
on a deep copy, so every module keeps its name: forward hooks by name (:mod:`selrob.units`)
still fire, and the analyses record the same layers on the copy as on the original. Conv/BN
pairs are found by tracing the forward with ``torch.fx`` (a conv whose only user is a batch
norm); a model that cannot be traced is copied without folding. The copy is kept only if its
outputs on a probe batch match the original's; the caller's model is never modified.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["conv_bn_pairs", "frozen_for", "inference_copy"]


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """``(conv name, bn name)`` for every ``Conv2d`` whose output feeds only a ``BatchNorm2d``.

    Found by symbolic tracing; ``[]`` when the model cannot be traced.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # noqa: BLE001  (data-dependent control flow, unsupported ops, ...)
        return []
    modules = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.BatchNorm2d):
            continue
        src = node.args[0] if node.args else None
        if (
            isinstance(src, torch.fx.Node)
            and src.op == "call_module"
            and isinstance(modules.get(src.target), nn.Conv2d)
            and len(src.users) == 1
        ):
            pairs.append((str(src.target), str(node.target)))
    return pairs


def _fold(clone: nn.Module, pairs: list[tuple[str, str]]) -> None:
    for conv_name, bn_name in pairs:
        conv, bn = clone.get_submodule(conv_name), clone.get_submodule(bn_name)
        if not bn.track_running_stats or bn.running_mean is None:
            continue  # batch statistics even in eval mode: not an affine map
        clone.set_submodule(conv_name, fuse_conv_bn_eval(conv, bn))
        clone.set_submodule(bn_name, nn.Identity())


def _close(got: torch.Tensor, want: torch.Tensor) -> bool:
    scale = float(want.abs().max()) if want.numel() else 0.0
    return got.shape == want.shape and torch.allclose(got, want, rtol=1e-3, atol=1e-3 * scale)


def inference_copy(model: nn.Module, probe: torch.Tensor | None = None) -> nn.Module:
    """Frozen eval-mode deep copy of ``model`` with conv+BN folded and channels_last weights.

    probe: a small input batch on the model's device; with it, the folded copy is checked
    against the original (``rtol=1e-3``) and folding is dropped if they disagree. Returns
    ``model`` itself when it cannot be deep-copied. Parameters of the copy do not require
    gradients; gradients w.r.t. the *input* still flow through it.
    """
    try:
        clone = copy.deepcopy(model)
    except Exception:  # noqa: BLE001  (e.g. non-leaf tensors cached on the module)
        return model
    clone.eval()
    for p in clone.parameters():
        p.requires_grad_(False)
    pairs = conv_bn_pairs(clone)
    if pairs:
        folded = copy.deepcopy(clone)
        _fold(folded, pairs)
        if probe is None:
            clone = folded
        else:
            with torch.no_grad():
                want, got = clone(probe), folded(probe)
            if isinstance(want, torch.Tensor) and _close(got, want):
                clone = folded
    return clone.to(memory_format=torch.channels_last)


def frozen_for(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """The model to run on ``x`` (N, C, H, W) when only its outputs or input gradients are
    needed: on the CPU a folded inference copy checked on ``x[:16]``, elsewhere ``model``."""
    return inference_copy(model, x[:16]) if x.device.type == "cpu" and x.dim() == 4 else model
