"""Accuracy under corruption against a hand computation with a model whose decision is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.models import MeanThreshold

from selrob.analysis.corruption_robustness import (
    corruption_accuracy,
    summarize_corruptions,
)
from selrob.data import load_dataset
from selrob.perturb.corruptions import corrupt


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
