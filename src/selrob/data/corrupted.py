"""The published corrupted test sets, read from disk (Hendrycks & Dietterich 2019).

* ``cifar10-c``: one ``<corruption>.npy`` per corruption, uint8 ``[50000, 32, 32, 3]``,
  severity-major (rows ``(s-1)*10000 .. s*10000-1`` are severity ``s``), and ``labels.npy``.
  Files are memory-mapped, so only the requested severity is read.
* ``tinyimagenet-c``: ``<corruption>/<severity>/<wnid>/*.JPEG`` (64x64, JPEG quality 85).

The CIFAR-10-C layout is what ``selrob corrupt`` writes (:mod:`selrob.perturb.corruptions.export`);
both sides take the file names from :mod:`selrob.paths`, so a generated set reads back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from selrob import paths
from selrob.data.base import ImageDataset
from selrob.data.cifar import CIFAR10_CLASSES
from selrob.data.tinyimagenet import read_image
from selrob.errors import DatasetNotFound, InvalidArgument, MalformedData


def _check_severity(severity: int) -> None:
    if not 1 <= int(severity) <= 5:
        raise InvalidArgument(f"severity {severity} is outside 1..5")


def load_npy_corrupted(
    root: Path,
    corruption: str,
    severity: int,
    classes: tuple[str, ...] = CIFAR10_CLASSES,
    name: str = "cifar10-c",
) -> ImageDataset:
    """One corruption x severity of a CIFAR-10-C-layout folder as an ImageDataset."""
    _check_severity(severity)
    f, lab = paths.corrupted_npy(root, corruption), paths.corrupted_labels(root)
    for p in (f, lab):
        if not p.is_file():
            raise DatasetNotFound(
                f"no {p.name} under {root}; pass --corrupted-dir pointing at the CIFAR-10-C folder"
            )
    try:
        arr = np.load(f, mmap_mode="r", allow_pickle=False)
        labels = np.load(lab, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise MalformedData(f"{f}: unreadable .npy ({e}); re-download or regenerate it") from None
    if arr.ndim != 4 or arr.dtype != np.uint8 or arr.shape[0] % 5 or arr.shape[3] not in (1, 3):
        raise MalformedData(f"{f}: expected uint8 [5*N, H, W, C], got {arr.dtype} {arr.shape}")
    if labels.shape[0] != arr.shape[0]:
        raise MalformedData(
            f"{lab}: {labels.shape[0]} labels for {arr.shape[0]} images (truncated?)"
        )
    n = arr.shape[0] // 5
    rows = slice((severity - 1) * n, severity * n)
    images = torch.from_numpy(np.ascontiguousarray(arr[rows]).transpose(0, 3, 1, 2).copy())
    return ImageDataset(
        images, torch.from_numpy(np.array(labels[rows], dtype=np.int64)), classes, name
    )


def load_tinyimagenet_c(
    root: Path, corruption: str, severity: int, wnids: list[str] | None, classes: tuple[str, ...]
) -> ImageDataset:
    """One corruption x severity of a Tiny-ImageNet-C folder.

    ``wnids`` fixes the label order; None = the sorted wnid folders, which is the order of
    :func:`selrob.data.tinyimagenet.load_tinyimagenet` when all 200 classes are present.
    """
    _check_severity(severity)
    folder = paths.tinyimagenet_c_folder(root, corruption, severity)
    if not folder.is_dir():
        raise DatasetNotFound(
            f"no {folder}; pass --corrupted-dir pointing at the Tiny-ImageNet-C folder"
        )
    wnids = wnids if wnids is not None else sorted(p.name for p in folder.iterdir() if p.is_dir())
    index = {w: i for i, w in enumerate(wnids)}
    files = [
        (p, index[p.parent.name]) for p in sorted(folder.glob("*/*.JPEG")) if p.parent.name in index
    ]
    if not files:
        raise DatasetNotFound(f"no JPEG images under {folder}/<wnid>/; check the folder layout")
    images = np.stack([read_image(p) for p, _ in files])
    labels = torch.tensor([c for _, c in files], dtype=torch.int64)
    return ImageDataset(torch.from_numpy(images), labels, classes, "tinyimagenet-c")
