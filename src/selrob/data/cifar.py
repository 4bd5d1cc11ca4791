"""CIFAR-10 from the official binary (``cifar-10-batches-bin``) or python (``cifar-10-batches-py``)
version.

The python version is a pickle. Plain ``pickle.load`` executes arbitrary code from the file,
so we use a restricted unpickler that resolves only the globals numpy needs to rebuild an
array (``_reconstruct``, ``ndarray``, ``dtype``, ``_frombuffer``); anything else (``os.system``,
``builtins.eval``...) raises MalformedData. Containers, strings, bytes and numbers need no
globals at all.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from selrob.data.base import ImageDataset
from selrob.errors import DatasetNotFound, MalformedData

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
_RECORD = 1 + 3 * 32 * 32
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def safe_unpickle(data: bytes, source: Path) -> object:
    """Unpickle ``data`` allowing only numpy arrays, containers, strings and numbers."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise MalformedData(
            f"{source}: refused to unpickle ({e}); use the official CIFAR-10 files"
        ) from None
    except Exception as e:  # truncated/corrupt pickles raise many types
        raise MalformedData(
            f"{source}: malformed pickle ({type(e).__name__}: {e}); re-download CIFAR-10"
        ) from None


def _files(split: str, binary: bool) -> list[str]:
    if binary:
        return (
            [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
        )
    return [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]


def _read_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        raise MalformedData(
            f"{path}: size {raw.size} is not a multiple of {_RECORD} bytes (truncated?); re-download CIFAR-10"
        )
    rec = raw.reshape(-1, _RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise MalformedData(
            f"{path}: label {labels.max()} out of range 0..9; not a CIFAR-10 binary batch"
        )
    return rec[:, 1:].reshape(-1, 3, 32, 32), labels


def _read_python(path: Path) -> tuple[np.ndarray, np.ndarray]:
    obj = safe_unpickle(path.read_bytes(), path)
    if not isinstance(obj, dict):
        raise MalformedData(f"{path}: expected a dict batch, got {type(obj).__name__}")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}
    data, labels = d.get("data"), d.get("labels")
    if not isinstance(data, np.ndarray) or labels is None:
        raise MalformedData(f"{path}: batch lacks 'data' array or 'labels'")
    labels = np.asarray(labels, dtype=np.int64)
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
        or data.shape[0] != labels.shape[0]
    ):
        raise MalformedData(
            f"{path}: data {data.dtype} {data.shape} / labels {labels.shape} are not CIFAR-10 shaped"
        )
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(split: str, data_dir: Path) -> ImageDataset:
    """Load a CIFAR-10 split from ``data_dir`` (which holds, or is, a batches-bin/-py folder)."""
    for sub, binary in (
        ("cifar-10-batches-bin", True),
        ("cifar-10-batches-py", False),
        ("", True),
        ("", False),
    ):
        folder = data_dir / sub if sub else data_dir
        names = _files(split, binary)
        if all((folder / n).is_file() for n in names):
            reader = _read_binary if binary else _read_python
            parts = [reader(folder / n) for n in names]
            images = np.concatenate([p[0] for p in parts])
            labels = np.concatenate([p[1] for p in parts])
            return ImageDataset(
                torch.from_numpy(images.copy()),
                torch.from_numpy(labels),
                CIFAR10_CLASSES,
                "cifar10",
            )
    raise DatasetNotFound(
        f"no CIFAR-10 {split} batches (cifar-10-batches-bin or cifar-10-batches-py) under {data_dir}; "
        "pass --data-dir pointing at the extracted CIFAR-10 archive"
    )
