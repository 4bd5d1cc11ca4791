"""Where computation runs: the ``--device`` choice resolved to a ``torch.device``, and the CPU
cores this process may use."""

from __future__ import annotations

import os

import torch

from selrob.errors import InvalidArgument


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidArgument(
            f"device {name!r} requested but CUDA is not available; use --device cpu or auto"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise InvalidArgument(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
