"""``selrob corrupt`` / ``show-corruptions``: the exported CIFAR-10-C-layout set equals the corruptions
recomputed here batch by batch from the documented seeds, and reads back through selrob.data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.models import MeanThreshold
from PIL import Image

from selrob.analysis.corruption_robustness import (
    published_corruption_accuracy,
)
from selrob.cli import main
from selrob.data import load_dataset
from selrob.data.corrupted import load_npy_corrupted
from selrob.perturb.corruptions import corrupt
from selrob.perturb.corruptions.export import export_corrupted_set
from selrob.seeds import corruption_seed


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
                generator=torch.Generator().manual_seed(corruption_seed(0, "shot_noise", 4, b)),
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
