"""Accuracy under corruption against a hand computation with a model whose decision is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.models import MeanThreshold

from selrob.analysis.corruption_robustness import (
    corruption_accuracy,
    summarize_corruptions,
)
from selrob.data import ImageDataset, load_dataset
from selrob.perturb.corruptions import corrupt


class PixelHash(torch.nn.Module):
    """Predicts a class from the 4th decimal of the image sum: any pixel change moves it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = (x.double().sum((1, 2, 3)) * 1000).long() % 10
        return torch.nn.functional.one_hot(k, 10).float()


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
    # the noise is drawn per fixed block of images: the batch size of the passes changes nothing
    test = load_dataset("fashion-mnist", "train", idx_dir)
    images, labels = test.images.repeat(2, 1, 1, 1)[:600], test.labels.repeat(2)[:600]
    big = ImageDataset(images, labels, test.classes, test.name)  # three noise blocks
    names = ["gaussian_noise", "spatter"]
    by_batch = [corruption_accuracy(PixelHash(), big, names, [3], batch_size=b, seed=3)
                for b in (100, 256, 600)]  # fmt: skip
    assert by_batch[0] == by_batch[1] == by_batch[2]
    # the check can fail: these predictions follow every pixel, so other noise moves them
    assert by_batch[0][1:] != corruption_accuracy(PixelHash(), big, names, [3], seed=4)[1:]
    assert s["corruption_drop"] == pytest.approx(
        clean - np.mean([r["accuracy"] for r in recs[1:]]), abs=1e-6
    )
