"""Tiny datasets written in their on-disk formats by writers independent of selrob's readers."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> None:
    """Write a uint8 array in IDX format (the independent writer our reader is tested against)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def synthetic_images(n: int, size: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable synthetic classes: each class is a bright blob at its own position, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    centres = [
        (size * (0.25 + 0.5 * (c % 2)), size * (0.1 + 0.8 * (c // 2) / 4)) for c in range(10)
    ]
    imgs = np.empty((n, channels, size, size), dtype=np.uint8)
    for i, c in enumerate(labels):
        cy, cx = centres[c]
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 10) ** 2))
        img = 0.8 * blob + 0.25 * rng.random((size, size))
        imgs[i] = np.clip(img * 255, 0, 255).astype(np.uint8)[None]
    return imgs, labels


def make_idx_dir(root: Path, n_train: int = 512, n_test: int = 256, gz: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        imgs, labels = synthetic_images(n, 28, 1, seed)
        write_idx(root / f"{split}-images-idx3-ubyte", imgs[:, 0], gz)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels, gz)
    return root
