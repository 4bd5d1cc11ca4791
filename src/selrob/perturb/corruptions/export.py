"""Corrupted test sets for other tools, and a picture for eyeballing (``selrob corrupt``,
``selrob show-corruptions``): a set in the CIFAR-10-C layout (``selrob.paths`` names its files,
so :mod:`selrob.data.corrupted` reads it back), and a grid of one image under every corruption
and severity. Writes atomically; these are data sets, never run directories."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from selrob import paths
from selrob.data import batches, load_dataset, to_float
from selrob.errors import OutputNotWritable
from selrob.perturb.corruptions import corrupt, corruptions_for
from selrob.seeds import corruption_seed
from selrob.storage import write_bytes_atomic


def _generator(seed: int, name: str, severity: int, batch: int) -> torch.Generator:
    return torch.Generator().manual_seed(corruption_seed(seed, name, severity, batch))


def _mkdir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputNotWritable(
            f"cannot create {out} ({e.strerror}); pass --out a writable directory"
        ) from None
    return out


def _save_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    write_bytes_atomic(path, buf.getvalue())


def export_corrupted_set(
    dataset: str, out: Path, *, data_dir: str | None = None, limit: int | None = None, seed: int = 0,
    corruptions: list[str] | None = None, batch_size: int = 500, progress: bool = False,
) -> list[Path]:  # fmt: skip
    """Write ``out/<corruption>.npy`` (uint8 [5N, H, W, C], severity-major) and ``out/labels.npy``.

    The CIFAR-10-C layout, for any dataset; pixels are rounded to uint8 (the published
    generator truncated, which biases images darker by half a grey level on average).
    """
    test = load_dataset(dataset, "test", data_dir).subset(limit)
    out = _mkdir(Path(out))
    names = corruptions or corruptions_for(test.shape[0])
    written = []
    for name in tqdm(names, desc="corrupt", unit="corruption", disable=not progress):
        per_sev = []
        for sev in range(1, 6):
            parts = [
                corrupt(x, name, sev, generator=_generator(seed, name, sev, b))
                for b, (x, _) in enumerate(batches(test, batch_size))
            ]
            per_sev.append(
                (torch.cat(parts).mul(255).round().to(torch.uint8)).permute(0, 2, 3, 1).numpy()
            )
        _save_npy(paths.corrupted_npy(out, name), np.concatenate(per_sev))
        written.append(paths.corrupted_npy(out, name))
    _save_npy(paths.corrupted_labels(out), np.tile(test.labels.numpy(), 5))
    return written


def corruption_grid(
    dataset: str, out: Path, *, data_dir: str | None = None, index: int = 0, seed: int = 0
) -> Path:
    """Draw test image ``index`` under every corruption (rows) and severity 1-5 (columns) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = load_dataset(dataset, "test", data_dir)
    x = to_float(test.images[index : index + 1])
    names = corruptions_for(test.shape[0])
    fig, axes = plt.subplots(len(names), 6, figsize=(6 * 1.2, len(names) * 1.2), squeeze=False)
    for r, name in enumerate(names):
        row = [x] + [
            corrupt(x, name, s, generator=_generator(seed, name, s, 0)) for s in range(1, 6)
        ]
        for c, img in enumerate(row):
            ax = axes[r][c]
            arr = img[0].permute(1, 2, 0).numpy()
            ax.imshow(arr[..., 0] if arr.shape[2] == 1 else arr, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("clean" if c == 0 else f"severity {c}", fontsize=7)
        axes[r][0].set_ylabel(name, fontsize=6, rotation=0, ha="right", va="center")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    out = Path(out)
    _mkdir(out.parent)
    write_bytes_atomic(out, buf.getvalue())
    return out
