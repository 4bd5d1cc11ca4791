"""The published -C layouts (CIFAR-10-C .npy, Tiny-ImageNet-C folders) on hand-made sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selrob.data.corrupted import load_npy_corrupted, load_tinyimagenet_c
from selrob.errors import DatasetNotFound, InvalidArgument, MalformedData


def _fake_cifar_c(root: Path, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (5 * n, 32, 32, 3), dtype=np.uint8)
    labels = np.tile(rng.integers(0, 10, n), 5)
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "fog.npy", arr)
    np.save(root / "labels.npy", labels)
    return arr, labels


def test_cifar10_c_layout(tmp_path: Path) -> None:
    arr, labels = _fake_cifar_c(tmp_path)
    ds = load_npy_corrupted(tmp_path, "fog", 2)
    np.testing.assert_array_equal(ds.images.numpy(), arr[4:8].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(ds.labels.numpy(), labels[4:8])
    with pytest.raises(InvalidArgument, match="1..5"):
        load_npy_corrupted(tmp_path, "fog", 6)
    with pytest.raises(DatasetNotFound, match="snow.npy"):
        load_npy_corrupted(tmp_path, "snow", 1)
    np.save(tmp_path / "labels.npy", labels[:7])
    with pytest.raises(MalformedData, match="labels"):
        load_npy_corrupted(tmp_path, "fog", 1)
    (tmp_path / "fog.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(MalformedData):
        load_npy_corrupted(tmp_path, "fog", 1)


def test_tinyimagenet_c_layout(tmp_path: Path) -> None:
    for i, w in enumerate(["n02", "n01"]):
        d = tmp_path / "fog" / "3" / w
        d.mkdir(parents=True)
        Image.new("RGB", (64, 64), (40 * (i + 1), 0, 0)).save(d / "a.JPEG", quality=85)
    ds = load_tinyimagenet_c(tmp_path, "fog", 3, None, ("a", "b"))
    assert ds.labels.tolist() == [0, 1] and ds.images.shape == (2, 3, 64, 64)
    assert (
        abs(float(ds.images[1, 0].float().mean()) - 40) < 3
    )  # n02 (red 40) is the second sorted wnid
    assert abs(float(ds.images[0, 0].float().mean()) - 80) < 3
    with pytest.raises(DatasetNotFound, match="fog/4"):
        load_tinyimagenet_c(tmp_path, "fog", 4, None, ("a", "b"))
