"""Tiny ImageNet's official folder layout on a hand-made tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selrob.data import load_dataset
from selrob.errors import MalformedData


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
