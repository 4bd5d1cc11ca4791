"""Every on-disk name selrob uses, one small function each (open_lth's paths.py convention).

No other module builds a path by hand, so renaming an artefact is a one-line change.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_DATA_DIRS = {
    "fashion-mnist": Path("/usr/share/datasets/fashion-mnist"),
    "mnist": Path("/usr/share/datasets/mnist"),
    "cifar10": Path("~/.selrob/data/cifar10").expanduser(),
    "cifar10-c": Path("~/.selrob/data/CIFAR-10-C").expanduser(),
    "tinyimagenet": Path("~/.selrob/data/tiny-imagenet-200").expanduser(),
    "tinyimagenet-c": Path("~/.selrob/data/Tiny-ImageNet-C").expanduser(),
}


def run_dir(root: Path, run_hash: str) -> Path:
    """Directory of one training run: ``root/<spec-hash>``."""
    return Path(root) / run_hash


def spec_file(run: Path) -> Path:
    return Path(run) / "spec.json"


def checkpoint_file(run: Path) -> Path:
    return Path(run) / "checkpoint.pt"


def metrics_file(run: Path) -> Path:
    return Path(run) / "metrics.json"


def meta_file(run: Path) -> Path:
    return Path(run) / "meta.json"


def lock_file(run: Path) -> Path:
    return Path(run) / ".lock"


def sweep_file(runs_root: Path) -> Path:
    """Copy of the sweep definition kept beside its runs."""
    return Path(runs_root) / "sweep.json"


def report_html(runs_root: Path) -> Path:
    return Path(runs_root) / "report.html"


def report_dir(runs_root: Path) -> Path:
    return Path(runs_root) / "report"


def default_data_dir(dataset: str) -> Path:
    """Where a dataset is looked for when ``--data-dir`` is not given."""
    return DEFAULT_DATA_DIRS.get(dataset, Path("~/.selrob/data").expanduser() / dataset)
