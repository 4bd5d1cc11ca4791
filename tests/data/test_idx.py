"""The IDX reader (MNIST, Fashion-MNIST) against an independent IDX writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.datasets import make_idx_dir, synthetic_images, write_idx

from selrob.data import load_dataset
from selrob.errors import DatasetNotFound, MalformedData


def test_idx_roundtrip_gz_and_raw(tmp_path: Path) -> None:
    for gz in (True, False):
        d = make_idx_dir(tmp_path / str(gz), 20, 10, gz=gz)
        ds = load_dataset("fashion-mnist", "test", d)
        imgs, labels = synthetic_images(10, 28, 1, 1)
        assert ds.images.shape == (10, 1, 28, 28) and ds.images.dtype == torch.uint8
        np.testing.assert_array_equal(ds.images.numpy(), imgs)
        np.testing.assert_array_equal(ds.labels.numpy(), labels)
        assert ds.classes[0] == "T-shirt/top" and ds.num_classes == 10


def test_missing_dataset_names_dir_and_package(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match=r"dataset-fashion-mnist.*--data-dir") as e:
        load_dataset("fashion-mnist", "train", tmp_path)
    assert str(tmp_path) in str(e.value)


def test_truncated_and_foreign_idx(tmp_path: Path) -> None:
    d = make_idx_dir(tmp_path, 20, 10, gz=False)
    f = d / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(MalformedData, match="truncated"):
        load_dataset("fashion-mnist", "test", d)
    f.write_bytes(b"PK\x03\x04 not idx at all")
    with pytest.raises(MalformedData, match="magic"):
        load_dataset("fashion-mnist", "test", d)
    write_idx(f, np.zeros((10, 28, 28), np.uint8), gz=False)
    (d / "t10k-labels-idx1-ubyte").write_bytes(b"")
    with pytest.raises(MalformedData):
        load_dataset("fashion-mnist", "test", d)


@pytest.mark.data
def test_real_fashion_mnist(real_fashion: Path) -> None:
    test = load_dataset("fashion-mnist", "test", real_fashion)
    train = load_dataset("fashion-mnist", "train", real_fashion)
    assert len(test) == 10_000 and len(train) == 60_000
    assert np.bincount(test.labels.numpy()).tolist() == [1000] * 10
    assert 60 < float(train.images.float().mean()) < 80  # mean pixel ~72.9
