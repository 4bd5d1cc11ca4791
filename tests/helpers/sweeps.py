"""A tiny sweep and the comparisons of two RUNS_DIRs that the executor tests share."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import torch

from selrob.config import Runtime

# A tiny sweep: small_cnn on the 512-image synthetic Fashion-MNIST, clean evaluation only.
TINY = dict(
    dataset="fashion-mnist",
    model="small_cnn",
    epochs=2,
    batch_size=64,
    lr=0.05,
    limit_test=64,
    alphas=[-1.0, 1.0],
    seeds=1,
)


def tiny_runtime(idx_dir: Path) -> Runtime:
    return Runtime(device="cpu", data_dir=str(idx_dir), quiet=True, threads=1)


def write_sweep(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(textwrap.dedent(body).lstrip("\n"))
    return p


def metrics_without_timings(run_dir: Path) -> dict[str, Any]:
    """metrics.json without its wall-clock timings."""
    m = json.loads((run_dir / "metrics.json").read_text())
    m["epochs"] = [{k: v for k, v in e.items() if k != "seconds"} for e in m["epochs"]]
    return m


def assert_same_runs(a: Path, b: Path, weights: bool = True) -> None:
    names = sorted(p.name for p in a.glob("*/"))
    assert names and names == sorted(p.name for p in b.glob("*/"))
    for name in names:
        assert metrics_without_timings(a / name) == metrics_without_timings(b / name), name
        if weights:
            wa = torch.load(a / name / "checkpoint.pt", weights_only=True)["model"]
            wb = torch.load(b / name / "checkpoint.pt", weights_only=True)["model"]
            for k in wa:
                assert torch.equal(wa[k], wb[k]), (name, k)
