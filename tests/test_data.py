"""Datasets in every on-disk format (built here in temp dirs), loaders, augmentation, bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_idx_dir, synthetic_images, write_idx
from PIL import Image

from selrob.data import augment_crop_flip, batches, dataset_info, load_dataset
from selrob.errors import DatasetNotFound, MalformedData, UnknownName


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


def test_tinyimagenet_layout(tmp_path: Path) -> None:
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n01", "n02"]
    (root).mkdir()
    (root / "wnids.txt").write_text("\n".join(wnids))
    (root / "words.txt").write_text("n01\tgoldfish, Carassius\nn02\tsalamander\n")
    rng = np.random.default_rng(0)
    for w in wnids:
        (root / "train" / w / "images").mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
                root / "train" / w / "images" / f"{w}_{i}.JPEG"
            )
    (root / "val" / "images").mkdir(parents=True)
    lines = []
    for i, w in enumerate(["n02", "n01", "n02"]):
        Image.new("RGB", (64, 64), (i * 50, 0, 0)).save(root / "val" / "images" / f"val_{i}.JPEG")
        lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines))
    train = load_dataset("tinyimagenet", "train", tmp_path)
    test = load_dataset("tinyimagenet", "test", tmp_path)
    assert train.images.shape == (6, 3, 64, 64) and train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert test.labels.tolist() == [1, 0, 1] and test.classes == ("goldfish", "salamander")
    assert abs(int(test.images[2, 0].float().mean()) - 100) <= 2  # JPEG of a flat red 100
    (root / "val" / "val_annotations.txt").write_text("garbage line")
    with pytest.raises(MalformedData, match="val_annotations"):
        load_dataset("tinyimagenet", "test", tmp_path)


def test_batches_are_float_unit_range_and_seeded(idx_dir: Path) -> None:
    ds = load_dataset("fashion-mnist", "train", idx_dir)
    x, y = next(batches(ds, 32))
    assert x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    torch.testing.assert_close(x, ds.images[:32].float() / 255)

    def order(s):
        return torch.cat(
            [
                y
                for _, y in batches(
                    ds, 64, shuffle=True, generator=torch.Generator().manual_seed(s)
                )
            ]
        )  # noqa: E731

    assert torch.equal(order(0), order(0)) and not torch.equal(order(0), order(1))
    assert sorted(order(0).tolist()) == sorted(ds.labels.tolist())


def test_augment_matches_numpy_crop_flip() -> None:
    """Oracle: re-derive each image's crop offset and flip from the same draws, in numpy."""
    x = torch.rand(6, 3, 8, 8)
    out = augment_crop_flip(x, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    dy = torch.randint(0, 9, (6,), generator=g).numpy()
    dx = torch.randint(0, 9, (6,), generator=g).numpy()
    flip = (torch.rand(6, generator=g) < 0.5).numpy()
    for i in range(6):
        padded = np.pad(x[i].numpy(), ((0, 0), (4, 4), (4, 4)))
        crop = padded[:, dy[i] : dy[i] + 8, dx[i] : dx[i] + 8]
        if flip[i]:
            crop = crop[:, :, ::-1]
        np.testing.assert_array_equal(out[i].numpy(), crop)


def test_registry_and_info() -> None:
    assert dataset_info("cifar10").augment and not dataset_info("fashion-mnist").augment
    with pytest.raises(UnknownName, match="fashion-mnist"):
        load_dataset("imagenet", "train")


@pytest.mark.data
def test_real_fashion_mnist(real_fashion: Path) -> None:
    test = load_dataset("fashion-mnist", "test", real_fashion)
    train = load_dataset("fashion-mnist", "train", real_fashion)
    assert len(test) == 10_000 and len(train) == 60_000
    assert np.bincount(test.labels.numpy()).tolist() == [1000] * 10
    assert 60 < float(train.images.float().mean()) < 80  # mean pixel ~72.9
