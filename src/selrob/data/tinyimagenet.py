"""Tiny ImageNet (200 classes, 64x64) from its official folder layout, read with Pillow.

``train/<wnid>/images/*.JPEG`` for training; ``val/images/*.JPEG`` labelled by
``val/val_annotations.txt`` (file, wnid, box) serves as the test split, as in the paper
(the official test split has no labels). Class order is sorted wnids (``wnids.txt`` when
present); names come from ``words.txt`` when present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from selrob.data.base import ImageDataset
from selrob.errors import DatasetNotFound, MalformedData


def read_image(path: Path, size: int = 64) -> np.ndarray:
    """One JPEG -> uint8 (3, size, size); other sizes are resized (bilinear)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)
    except (OSError, UnidentifiedImageError) as e:
        raise MalformedData(f"{path}: unreadable image ({e}); re-extract the dataset") from None


def _wnids(root: Path) -> list[str]:
    if (root / "wnids.txt").is_file():
        return sorted(w.strip() for w in (root / "wnids.txt").read_text().split() if w.strip())
    if (root / "train").is_dir():
        return sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    raise DatasetNotFound(
        f"no Tiny ImageNet (wnids.txt or train/) under {root}; pass --data-dir pointing at tiny-imagenet-200"
    )


def _names(root: Path, wnids: list[str]) -> tuple[str, ...]:
    words = {}
    if (root / "words.txt").is_file():
        for line in (root / "words.txt").read_text().splitlines():
            if "\t" in line:
                k, v = line.split("\t", 1)
                words[k] = v.split(",")[0].strip()
    return tuple(words.get(w, w) for w in wnids)


def load_tinyimagenet(split: str, data_dir: Path) -> ImageDataset:
    """Load ``train`` or ``test`` (= the labelled val set) from ``data_dir``."""
    root = data_dir / "tiny-imagenet-200" if (data_dir / "tiny-imagenet-200").is_dir() else data_dir
    wnids = _wnids(root)
    index = {w: i for i, w in enumerate(wnids)}
    files: list[tuple[Path, int]] = []
    if split == "train":
        for w in wnids:
            files += [(p, index[w]) for p in sorted((root / "train" / w / "images").glob("*.JPEG"))]
    else:
        ann = root / "val" / "val_annotations.txt"
        if not ann.is_file():
            raise DatasetNotFound(f"no {ann}; pass --data-dir pointing at tiny-imagenet-200")
        for n, line in enumerate(ann.read_text().splitlines(), 1):
            parts = line.split("\t")
            if len(parts) < 2 or parts[1] not in index:
                raise MalformedData(
                    f"{ann}:{n}: expected 'file<TAB>wnid...' with a known wnid, got {line[:60]!r}"
                )
            files.append((root / "val" / "images" / parts[0], index[parts[1]]))
    if not files:
        raise DatasetNotFound(
            f"no Tiny ImageNet {split} images under {root}; check the folder layout"
        )
    images = np.stack([read_image(p) for p, _ in files])
    labels = torch.tensor([c for _, c in files], dtype=torch.int64)
    return ImageDataset(torch.from_numpy(images), labels, _names(root, wnids), "tinyimagenet")
