"""Shared fixtures: tiny datasets written in every on-disk format, in a temp dir.

No test needs a download; tests marked ``data`` use the real Fashion-MNIST when it is
installed and skip otherwise.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> None:
    """Write a uint8 array in IDX format (the independent writer our reader is tested against)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def synthetic_images(n: int, size: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable synthetic classes: each class is a bright blob at its own position, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    centres = [
        (size * (0.25 + 0.5 * (c % 2)), size * (0.1 + 0.8 * (c // 2) / 4)) for c in range(10)
    ]
    imgs = np.empty((n, channels, size, size), dtype=np.uint8)
    for i, c in enumerate(labels):
        cy, cx = centres[c]
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 10) ** 2))
        img = 0.8 * blob + 0.25 * rng.random((size, size))
        imgs[i] = np.clip(img * 255, 0, 255).astype(np.uint8)[None]
    return imgs, labels


def make_idx_dir(root: Path, n_train: int = 512, n_test: int = 256, gz: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        imgs, labels = synthetic_images(n, 28, 1, seed)
        write_idx(root / f"{split}-images-idx3-ubyte", imgs[:, 0], gz)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels, gz)
    return root


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny learnable Fashion-MNIST look-alike in IDX .gz files (512 train, 256 test)."""
    return make_idx_dir(tmp_path_factory.mktemp("fmnist"))


@pytest.fixture(scope="session")
def real_fashion() -> Path:
    if not (FASHION_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("real Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
    return FASHION_DIR


CHROMIUM = Path("/usr/bin/chromium")


def render_figures(html: Path, screenshot: Path) -> tuple[list[int], int]:
    """Open ``html`` in headless Debian Chromium: (naturalWidth of each figure image, number of
    skipped-figure notes); saves a full-page screenshot. Skips when Chromium/playwright are absent."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (make test installs Debian's chromium as root)")
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(html.as_uri())
            widths = page.eval_on_selector_all(
                "img[data-figure]", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
            )
            skipped = page.eval_on_selector_all("[data-skipped]", "els => els.length")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return widths, skipped
