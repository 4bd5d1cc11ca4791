"""The Ray executor: equal to the local one; clear errors when Ray or a cluster is missing."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from selrob.config import Runtime
from selrob.errors import InvalidArgument, SelrobError
from selrob.sweep import (
    sweep_from_dict,
)
from selrob.sweep.executors import run_sweep

# A tiny sweep: small_cnn on the 512-image synthetic Fashion-MNIST, clean evaluation only.


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


def _rt(idx_dir: Path) -> Runtime:
    return Runtime(device="cpu", data_dir=str(idx_dir), quiet=True, threads=1)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(textwrap.dedent(body).lstrip("\n"))
    return p


def _metrics(run_dir: Path) -> dict[str, Any]:
    """metrics.json without its wall-clock timings."""
    m = json.loads((run_dir / "metrics.json").read_text())
    m["epochs"] = [{k: v for k, v in e.items() if k != "seconds"} for e in m["epochs"]]
    return m


def _assert_same_runs(a: Path, b: Path, weights: bool = True) -> None:
    names = sorted(p.name for p in a.glob("*/"))
    assert names and names == sorted(p.name for p in b.glob("*/"))
    for name in names:
        assert _metrics(a / name) == _metrics(b / name), name
        if weights:
            wa = torch.load(a / name / "checkpoint.pt", weights_only=True)["model"]
            wb = torch.load(b / name / "checkpoint.pt", weights_only=True)["model"]
            for k in wa:
                assert torch.equal(wa[k], wb[k]), (name, k)


@pytest.fixture(scope="module")
def reference(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TINY sweep run uninterrupted by the local executor, one run after another."""
    root = tmp_path_factory.mktemp("reference")
    report = run_sweep(sweep_from_dict(TINY), root, _rt(idx_dir))
    assert [r.status for r in report.runs] == ["complete", "complete"]
    return root


def test_ray_executor_equals_local(idx_dir: Path, tmp_path: Path, reference: Path) -> None:
    pytest.importorskip("ray")
    report = run_sweep(sweep_from_dict(TINY), tmp_path, _rt(idx_dir), executor="ray", jobs=2)
    assert [r.status for r in report.runs] == ["complete", "complete"], report
    _assert_same_runs(reference, tmp_path)
    import ray

    assert not ray.is_initialized()  # the local Ray we started is shut down


def test_ray_address_that_does_not_answer_fails_fast(idx_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    t0 = time.monotonic()
    with pytest.raises(SelrobError, match="no Ray cluster answers at 127.0.0.1:1"):
        run_sweep(
            sweep_from_dict(TINY), tmp_path, _rt(idx_dir), executor="ray", ray_address="127.0.0.1:1"
        )
    assert time.monotonic() - t0 < 30


def test_missing_ray_is_a_clear_error(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(SelrobError, match=r"^Ray is not installed; pip install selrob\[ray\]$"):
        run_sweep(sweep_from_dict(TINY), tmp_path / "runs", _rt(idx_dir), executor="ray")
    assert not (tmp_path / "runs").exists()
    with pytest.raises(InvalidArgument, match="needs the ray executor"):
        run_sweep(
            sweep_from_dict(TINY), tmp_path / "runs", _rt(idx_dir), ray_address="127.0.0.1:6379"
        )
