"""Atomic file writes and JSON reads: the one way selrob puts bytes on disk and reads JSON back.

A write goes to a temp file in the target's directory, is fsynced, then ``os.replace``d over
the target, so a kill at any moment leaves either the old file or the new one, never half of
one. Temp files are named ``.<name>.<random>.tmp`` (:func:`selrob.paths.is_temp_file`).
No torch here: callers serialise tensors to bytes themselves.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selrob.errors import MalformedData, OutputNotWritable


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, fsync it, then move it over ``path``.

    For writers that want a path (pandas, matplotlib); :func:`write_bytes_atomic` for bytes.
    OS errors propagate (see :func:`atomic_write` for the user-facing variant).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from other users
        os.close(fd)
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """:func:`write_atomic`, with OS errors turned into one-line :class:`OutputNotWritable`."""
    try:
        write_atomic(path, write)
    except OSError as e:
        raise OutputNotWritable(
            f"cannot write {path}: {e}; check the directory's permissions"
        ) from e


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``; OutputNotWritable (the old file kept) when
    the disk is full or read-only."""
    try:
        write_atomic(path, lambda tmp: tmp.write_bytes(data))
    except OSError as e:
        raise OutputNotWritable(
            f"cannot write {path} ({e.strerror or e}); the previous version is intact: free space "
            "or fix permissions, then rerun the same command to resume"
        ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (NaN and infinities become null)."""
    text = json.dumps(_null_nonfinite(obj), indent=2, sort_keys=False) + "\n"
    write_bytes_atomic(path, text.encode())


def _null_nonfinite(obj: Any) -> Any:
    """``obj`` with every NaN / infinite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _null_nonfinite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_null_nonfinite(v) for v in obj]
    return obj


def read_json(path: Path) -> Any:
    """The JSON value in ``path``; MalformedData naming the file when it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedData(f"{path}: not valid JSON ({e}); restore or delete the file") from None


def read_json_object(path: Path) -> tuple[dict[str, Any], str | None]:
    """``(object, None)``, or ``({}, why)`` when ``path`` is missing, unreadable or not an object.

    For readers that skip damaged files rather than stop (results tables).
    """
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"{path.name} missing"
    except (OSError, ValueError) as e:
        return {}, f"{path.name} unreadable: {e}"
    if not isinstance(obj, dict):
        return {}, f"{path.name} is not a JSON object"
    return obj, None
