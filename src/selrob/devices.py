"""Where computation runs: the ``--device`` choice resolved to a ``torch.device``, the CPU
cores this process may use, and how its C allocator treats freed memory."""

from __future__ import annotations

import ctypes
import os
import sys

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


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 << 20  # bytes: glibc's largest; bigger blocks are still mapped per request
TRIM_THRESHOLD = 1 << 30  # bytes of free heap top kept before any is handed back to the OS
_KEPT: bool | None = None


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to reuse freed blocks of up to 32 MiB instead of handing them
    back to the kernel; True when it took effect (glibc), False elsewhere (a no-op).

    Why: every training step and forward pass frees and re-allocates activation-sized buffers
    (a few MiB for the demo network). With glibc's defaults a freed block of that size is
    unmapped or trimmed away, so its successor page-faults in afresh: about 2,000 minor faults
    per training step of the demo network, and a 3-7% slower epoch (docs/performance.md).
    Allocation only: every number computed is the same; the process keeps its peak heap.
    Called where selrob runs the process: each CLI command and each sweep run
    (:func:`selrob.sweep.run.run_one`, in its worker); ``selrob.measure`` and the other
    library calls leave the host program's allocator alone. Idempotent.
    """
    global _KEPT
    if _KEPT is None:
        _KEPT = _set_glibc_thresholds()
    return _KEPT


def _set_glibc_thresholds() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # no C library to load
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc: other mallopt numbers, if any
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
