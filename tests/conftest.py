"""Shared fixtures: tiny datasets in their on-disk formats (temp dirs), the real Fashion-MNIST
when installed, and the small CNN the attack tests attack.

No test needs a download; tests marked ``data`` use the real Fashion-MNIST and skip otherwise.
Helpers that tests import by name live in ``tests/helpers/`` (on ``sys.path`` via pytest's
``pythonpath`` setting).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.datasets import make_idx_dir
from helpers.images import FMNIST
from helpers.models import blobs, train_tiny_cnn


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny learnable Fashion-MNIST look-alike in IDX .gz files (512 train, 256 test)."""
    return make_idx_dir(tmp_path_factory.mktemp("fmnist"))


@pytest.fixture(scope="session")
def real_fashion() -> Path:
    if not (FMNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("real Fashion-MNIST not installed (Debian package dataset-fashion-mnist)")
    return FMNIST


@pytest.fixture(scope="session")
def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train and test "blob on a ring" images: (x_train, y_train, x_test, y_test)."""
    g = torch.Generator().manual_seed(0)
    return (*blobs(3000, g), *blobs(800, g))


@pytest.fixture(scope="session")
def model(data):  # noqa: ANN001, ANN201 - a trained helpers.models.TinyCNN
    """The attacks' target: a TinyCNN above 70% test accuracy (trained on one thread)."""
    xtr, ytr, xte, yte = data
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = train_tiny_cnn(xtr, ytr)
    finally:
        torch.set_num_threads(before)
    with torch.no_grad():
        assert (net(xte).argmax(1) == yte).float().mean() > 0.7
    return net
