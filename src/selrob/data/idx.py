"""MNIST and Fashion-MNIST from their IDX files (LeCun's format), gzipped or raw.

IDX: 2 zero bytes, a dtype code (0x08 = uint8), the number of dimensions, then one
big-endian uint32 per dimension, then the data. Everything is validated, so a truncated or
foreign file gives a one-line MalformedData error instead of garbage.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from selrob.data.base import ImageDataset
from selrob.errors import DatasetNotFound, MalformedData

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
MNIST_CLASSES = tuple(str(i) for i in range(10))
_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally .gz) into a uint8 array of its declared shape."""
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as e:
        raise MalformedData(
            f"{path}: cannot read ({e}); re-download or reinstall the dataset"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise MalformedData(
            f"{path}: not an IDX file (bad magic number); point --data-dir at the original files"
        )
    if raw[2] != 0x08:
        raise MalformedData(f"{path}: IDX dtype code {raw[2]:#x} is not uint8 (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MalformedData(f"{path}: truncated IDX header; re-download the dataset")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims)) if dims else 0
    if len(raw) - header != expected:
        raise MalformedData(
            f"{path}: IDX file holds {len(raw) - header} data bytes but its header declares {expected} "
            "(truncated or corrupt); re-download the dataset"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find(data_dir: Path, stem: str, dataset: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (data_dir / name).is_file():
            return data_dir / name
    hint = (
        "install the Debian package dataset-fashion-mnist or pass --data-dir"
        if dataset == "fashion-mnist"
        else "pass --data-dir pointing at the IDX files"
    )
    raise DatasetNotFound(f"no {dataset} file {stem}[.gz] under {data_dir}; {hint}")


def load_idx_dataset(dataset: str, split: str, data_dir: Path) -> ImageDataset:
    """Load the train or test split of (Fashion-)MNIST from ``data_dir``."""
    prefix = _PREFIX[split]
    images = read_idx(_find(data_dir, f"{prefix}-images-idx3-ubyte", dataset))
    labels = read_idx(_find(data_dir, f"{prefix}-labels-idx1-ubyte", dataset))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise MalformedData(
            f"{data_dir}: {dataset} {split} images {images.shape} and labels {labels.shape} do not match"
        )
    if labels.size and labels.max() > 9:
        raise MalformedData(f"{data_dir}: {dataset} labels exceed 9; wrong files?")
    classes = FASHION_CLASSES if dataset == "fashion-mnist" else MNIST_CLASSES
    return ImageDataset(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        classes,
        dataset,
    )
