"""Corrupted-accuracy evaluation, published corrupted sets (fake folders), export round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from selrob.analysis.robustness import (
    corruption_accuracy,
    corruption_generator,
    published_corruption_accuracy,
    summarize_corruptions,
)
from selrob.cli import main
from selrob.data import load_dataset
from selrob.data.corrupted_sets import load_npy_corrupted, load_tinyimagenet_c
from selrob.errors import DatasetNotFound, InvalidArgument, MalformedData
from selrob.exports import export_corrupted_set
from selrob.perturb.corruptions import corrupt


class MeanThreshold(torch.nn.Module):
    """Predicts class 1 when the image's mean brightness exceeds t, else 0 (hand-checkable)."""

    def __init__(self, t: float) -> None:
        super().__init__()
        self.t = t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([self.t - m, m - self.t], 1)


def test_corruption_accuracy_matches_hand_computation(idx_dir: Path) -> None:
    ds = load_dataset("fashion-mnist", "test", idx_dir).subset(100)
    model = MeanThreshold(0.25)
    recs = corruption_accuracy(
        model, ds, ["brightness", "gaussian_noise"], [1, 5], batch_size=32, seed=3
    )
    x = ds.images.float() / 255
    y = ds.labels
    clean = float(((x.mean((1, 2, 3)) > 0.25).long() == y).float().mean())
    assert recs[0] == {
        "corruption": "clean",
        "severity": 0,
        "accuracy": pytest.approx(clean),
        "n": 100,
    }
    # brightness is deterministic: one big batch must give what 32-image batches gave
    for sev in (1, 5):
        xb = corrupt(x, "brightness", sev)
        expected = float(((xb.mean((1, 2, 3)) > 0.25).long() == y).float().mean())
        (r,) = [r for r in recs if r["corruption"] == "brightness" and r["severity"] == sev]
        assert r["accuracy"] == pytest.approx(expected) and r["n"] == 100
    again = corruption_accuracy(model, ds, ["gaussian_noise"], [5], batch_size=32, seed=3)
    assert (
        again[1]
        == [r for r in recs if r["corruption"] == "gaussian_noise" and r["severity"] == 5][0]
    )
    s = summarize_corruptions(recs)
    assert s["corruption_drop"] == pytest.approx(
        clean - np.mean([r["accuracy"] for r in recs[1:]]), abs=1e-6
    )


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


def test_export_roundtrip_and_published_accuracy(idx_dir: Path, tmp_path: Path) -> None:
    files = export_corrupted_set(
        "fashion-mnist",
        tmp_path,
        data_dir=str(idx_dir),
        limit=20,
        corruptions=["contrast", "shot_noise"],
        batch_size=8,
    )
    assert [f.name for f in files] == ["contrast.npy", "shot_noise.npy"]
    test = load_dataset("fashion-mnist", "test", idx_dir).subset(20)
    back = load_npy_corrupted(tmp_path, "shot_noise", 4, test.classes)
    x = test.images.float() / 255
    expected = torch.cat(
        [
            corrupt(
                x[b * 8 : b * 8 + 8],
                "shot_noise",
                4,
                generator=corruption_generator(0, "shot_noise", 4, b),
            )
            for b in range(3)
        ]
    )
    np.testing.assert_array_equal(
        back.images.numpy(), (expected * 255).round().to(torch.uint8).numpy()
    )
    assert torch.equal(back.labels, test.labels)
    model = MeanThreshold(0.2)
    recs = published_corruption_accuracy(
        model, lambda c, s: load_npy_corrupted(tmp_path, c, s, test.classes), ["contrast"], [1, 5]
    )
    for r in recs:
        imgs = load_npy_corrupted(tmp_path, "contrast", r["severity"]).images.float() / 255
        assert r["accuracy"] == pytest.approx(
            float(((imgs.mean((1, 2, 3)) > 0.2).long() == test.labels).float().mean())
        )


def test_show_corruptions_writes_png(idx_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert main(["show-corruptions", "--data-dir", str(idx_dir), "--out", str(out), "--quiet"]) == 0
    assert out.stat().st_size > 10_000
    with Image.open(out) as im:
        assert im.size[0] > 300 and im.size[1] > 1000
