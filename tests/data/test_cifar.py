"""CIFAR-10 binary and python batches, and the restricted unpickler."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from selrob.data import load_dataset
from selrob.errors import MalformedData


def _cifar_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n)


def test_cifar_binary(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    data, labels = _cifar_arrays(7, 0)
    rec = np.concatenate([labels[:, None].astype(np.uint8), data], axis=1)
    rec.tofile(folder / "test_batch.bin")
    ds = load_dataset("cifar10", "test", tmp_path)
    np.testing.assert_array_equal(ds.images.numpy().reshape(7, -1), data)
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    (folder / "test_batch.bin").write_bytes(rec.tobytes()[:-5])
    with pytest.raises(MalformedData, match="multiple"):
        load_dataset("cifar10", "test", tmp_path)


def test_cifar_python_and_restricted_unpickler(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data, labels = _cifar_arrays(5, 1)
    batch = {
        b"batch_label": b"testing",
        b"labels": labels.tolist(),
        b"data": data,
        b"filenames": [b"a.png"] * 5,
    }
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    ds = load_dataset("cifar10", "test", tmp_path)
    np.testing.assert_array_equal(ds.images.numpy().reshape(5, -1), data)

    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (print, ("pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(MalformedData, match="not allowed"):
        load_dataset("cifar10", "test", tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2)[:50])
    with pytest.raises(MalformedData):
        load_dataset("cifar10", "test", tmp_path)
