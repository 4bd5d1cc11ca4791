"""Datasets by name. ``load_dataset(name, split, data_dir)`` returns an :class:`ImageDataset`
(uint8 images + int64 labels + class names); :func:`batches` yields float [0, 1] batches.

Per-dataset normalisation statistics live here but are applied inside the model (its first
layer), so everything outside the model works in pixel space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selrob.data.base import ImageDataset, augment_crop_flip, batches, to_float
from selrob.data.cifar import load_cifar10
from selrob.data.idx import load_idx_dataset
from selrob.data.tinyimagenet import load_tinyimagenet
from selrob.errors import InvalidArgument
from selrob.paths import default_data_dir
from selrob.registry import Registry

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "ImageDataset",
    "augment_crop_flip",
    "batches",
    "dataset_info",
    "load_dataset",
    "to_float",
]


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset: shape, classes, normalisation, whether to augment."""

    name: str
    channels: int
    size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool
    loader: Callable[[str, Path], ImageDataset]


DATASETS: Registry[DatasetInfo] = Registry("dataset")
for _info in (
    DatasetInfo(
        "fashion-mnist",
        1,
        28,
        10,
        (0.2860,),
        (0.3530,),
        False,
        lambda s, d: load_idx_dataset("fashion-mnist", s, d),
    ),
    DatasetInfo(
        "mnist",
        1,
        28,
        10,
        (0.1307,),
        (0.3081,),
        False,
        lambda s, d: load_idx_dataset("mnist", s, d),
    ),
    DatasetInfo(
        "cifar10", 3, 32, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), True, load_cifar10
    ),
    DatasetInfo(
        "tinyimagenet",
        3,
        64,
        200,
        (0.4802, 0.4481, 0.3975),
        (0.2770, 0.2691, 0.2821),
        True,
        load_tinyimagenet,
    ),
):
    DATASETS.register(_info.name)(_info)


def dataset_info(name: str) -> DatasetInfo:
    """Facts about dataset ``name``; UnknownName lists the valid names."""
    return DATASETS.get(name)


def load_dataset(name: str, split: str, data_dir: str | Path | None = None) -> ImageDataset:
    """Load split ``train`` or ``test`` of dataset ``name`` from ``data_dir`` (default: its standard place)."""
    info = DATASETS.get(name)
    if split not in ("train", "test"):
        raise InvalidArgument(f"split must be 'train' or 'test', got {split!r}")
    root = Path(data_dir).expanduser() if data_dir else default_data_dir(name)
    return info.loader(split, root)
