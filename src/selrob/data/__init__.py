"""Datasets by name. ``load_dataset(name, split, data_dir)`` returns an :class:`ImageDataset`
(uint8 images + int64 labels + class names); :func:`batches` yields float [0, 1] batches.

Everything selrob knows about a dataset is one :class:`DatasetInfo` in :data:`DATASETS`: shape,
classes, normalisation (applied inside the model, so everything outside it works in pixel
space), augmentation, the attacks' default epsilon grids and the reader of its published
corrupted set. Adding a dataset is adding one entry here (and its default folder to
:mod:`selrob.paths`); a test checks that every table agrees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selrob.data.base import ImageDataset, augment_crop_flip, batches, rebatch, to_float
from selrob.data.cifar import load_cifar10
from selrob.data.corrupted import load_npy_corrupted, load_tinyimagenet_c
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
    "load_dataset",
    "rebatch",
    "to_float",
]

CorruptedLoader = Callable[[Path, str, int, tuple[str, ...]], ImageDataset]


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """Static facts about a dataset.

    ``epsilons``: per norm ("linf", "l2"), the attacks' default budgets in pixel units,
    ascending from 0 (``docs/method.md`` says where each grid comes from).
    ``load_corrupted(root, corruption, severity, classes)``: one cell of its published -C set.
    """

    name: str
    channels: int
    size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool
    loader: Callable[[str, Path], ImageDataset]
    epsilons: dict[str, tuple[float, ...]]
    load_corrupted: CorruptedLoader


def _npy_c(name: str) -> CorruptedLoader:
    return lambda root, c, s, classes: load_npy_corrupted(root, c, s, classes, f"{name}-c")


def _tinyimagenet_c(root: Path, c: str, s: int, classes: tuple[str, ...]) -> ImageDataset:
    return load_tinyimagenet_c(root, c, s, None, classes)


# The paper's small L-inf radii for its undefended CIFAR / Tiny ImageNet ResNets (accuracy is
# ~0% within a few /255); the L2 grids are ours. Fashion-MNIST's grids were measured on an
# undefended resnet20 (docs/method.md); MNIST's follow common practice (Madry et al. 2018).
_CIFAR_LINF = (0.0, 0.5 / 255, 1 / 255, 2 / 255, 4 / 255, 8 / 255)
_CIFAR_L2 = (0.0, 0.025, 0.05, 0.1, 0.25, 0.5)

DATASETS: Registry[DatasetInfo] = Registry("dataset")
for _info in (
    DatasetInfo(
        name="fashion-mnist", channels=1, size=28, num_classes=10,
        mean=(0.2860,), std=(0.3530,), augment=False,
        loader=lambda s, d: load_idx_dataset("fashion-mnist", s, d),
        epsilons={"linf": (0.0, 0.005, 0.01, 0.02, 0.05, 0.1),
                  "l2": (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)},
        load_corrupted=_npy_c("fashion-mnist"),
    ),
    DatasetInfo(
        name="mnist", channels=1, size=28, num_classes=10,
        mean=(0.1307,), std=(0.3081,), augment=False,
        loader=lambda s, d: load_idx_dataset("mnist", s, d),
        epsilons={"linf": (0.0, 0.02, 0.05, 0.1, 0.2, 0.3),
                  "l2": (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)},
        load_corrupted=_npy_c("mnist"),
    ),
    DatasetInfo(
        name="cifar10", channels=3, size=32, num_classes=10,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616), augment=True,
        loader=load_cifar10, epsilons={"linf": _CIFAR_LINF, "l2": _CIFAR_L2},
        load_corrupted=_npy_c("cifar10"),
    ),
    DatasetInfo(
        name="tinyimagenet", channels=3, size=64, num_classes=200,
        mean=(0.4802, 0.4481, 0.3975), std=(0.2770, 0.2691, 0.2821), augment=True,
        loader=load_tinyimagenet, epsilons={"linf": _CIFAR_LINF, "l2": _CIFAR_L2},
        load_corrupted=_tinyimagenet_c,
    ),
):  # fmt: skip
    DATASETS.register(_info.name)(_info)


def load_dataset(name: str, split: str, data_dir: str | Path | None = None) -> ImageDataset:
    """Load split ``train`` or ``test`` of dataset ``name`` from ``data_dir`` (default: its standard place)."""
    info = DATASETS.get(name)
    if split not in ("train", "test"):
        raise InvalidArgument(f"split must be 'train' or 'test', got {split!r}")
    root = Path(data_dir).expanduser() if data_dir else default_data_dir(name)
    return info.loader(split, root)
