"""Batches (range, order, seeding) and the crop + flip augmentation against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from selrob.data import augment_crop_flip, batches, load_dataset, rebatch


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


def test_rebatch_regroups_examples_in_order() -> None:
    x = torch.arange(23.0).view(23, 1, 1, 1)
    y = torch.arange(23)
    stream = [(x[:5], y[:5]), (x[5:6], y[5:6]), (x[6:20], y[6:20]), (x[20:], y[20:])]
    for size in (1, 4, 7, 23, 50):
        out = list(rebatch(stream, size))
        assert [len(b) for b, _ in out] == [size] * (23 // size) + (
            [23 % size] if 23 % size else []
        )
        assert torch.equal(torch.cat([b for b, _ in out]), x)
        assert torch.equal(torch.cat([t for _, t in out]), y)
