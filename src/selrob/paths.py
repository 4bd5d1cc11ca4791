"""Every on-disk name selrob uses, one small function each (open_lth's ``paths.py`` convention).

No other module builds a path by hand, so renaming an artefact is a one-line change, and the
reader and the writer of a layout call the same function.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIRS = {
    "fashion-mnist": Path("/usr/share/datasets/fashion-mnist"),
    "mnist": Path("/usr/share/datasets/mnist"),
    "cifar10": Path("~/.selrob/data/cifar10").expanduser(),
    "cifar10-c": Path("~/.selrob/data/CIFAR-10-C").expanduser(),
    "tinyimagenet": Path("~/.selrob/data/tiny-imagenet-200").expanduser(),
    "tinyimagenet-c": Path("~/.selrob/data/Tiny-ImageNet-C").expanduser(),
}


def default_data_dir(dataset: str) -> Path:
    """Where a dataset is looked for when ``--data-dir`` is not given."""
    return DEFAULT_DATA_DIRS.get(dataset, Path("~/.selrob/data").expanduser() / dataset)


# --------------------------------------------------------------------------- one run


def run_dir(root: Path, run_hash: str) -> Path:
    """Directory of one training run: ``root/<spec-hash>``."""
    return Path(root) / run_hash


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is named like a run (16 hex digits of its spec hash); a run moved
    aside (``<hash>.replaced-<time>``) or one being created (``.<hash>.<random>.new``) is not."""
    name = Path(path).name
    return len(name) == 16 and all(c in "0123456789abcdef" for c in name)


def building_run_dir(run: Path, token: str) -> Path:
    """The temporary directory ``run`` is built in before it is renamed into place
    (``.<hash>.<token>.new``, beside it)."""
    return Path(run).with_name(f".{Path(run).name}.{token}.new")


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


def write_probe(directory: Path) -> Path:
    """An empty file created and removed to check that ``directory`` is writable (named by
    this process, so two processes probing one directory never remove each other's)."""
    return Path(directory) / f".write-test-{os.getpid()}"


def is_temp_file(path: Path) -> bool:
    """Whether ``path`` is a temp file of an atomic write (``.<name>.<random>.tmp``)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(".tmp")


# --------------------------------------------------------------------------- a runs directory


def sweep_file(runs_root: Path) -> Path:
    """Copy of the sweep definition kept beside its runs."""
    return Path(runs_root) / "sweep.json"


def results_csv(runs_root: Path) -> Path:
    return Path(runs_root) / "results.csv"


def results_parquet(runs_root: Path) -> Path:
    return Path(runs_root) / "results.parquet"


def results_table(runs_root: Path, table: str) -> Path:
    """One long table of the results: ``results_<table>.csv``."""
    return Path(runs_root) / f"results_{table}.csv"


def findings_csv(runs_root: Path) -> Path:
    """The report's findings table (one row per test of a claim) as CSV."""
    return Path(runs_root) / "findings.csv"


def report_html(runs_root: Path) -> Path:
    return Path(runs_root) / "report.html"


def report_dir(runs_root: Path) -> Path:
    return Path(runs_root) / "report"


def report_figure(figure_dir: Path, number: int, name: str) -> Path:
    """PNG of one report figure: ``fig<number>_<name>.png``."""
    return Path(figure_dir) / f"fig{number}_{name}.png"


# --------------------------------------------------------------------------- corrupted sets


def corrupted_npy(root: Path, corruption: str) -> Path:
    """CIFAR-10-C layout: one uint8 array per corruption, severity-major."""
    return Path(root) / f"{corruption}.npy"


def corrupted_labels(root: Path) -> Path:
    """CIFAR-10-C layout: the labels, repeated once per severity."""
    return Path(root) / "labels.npy"


def tinyimagenet_c_folder(root: Path, corruption: str, severity: int) -> Path:
    """Tiny-ImageNet-C layout: ``<corruption>/<severity>/<wnid>/*.JPEG``."""
    return Path(root) / corruption / str(severity)
