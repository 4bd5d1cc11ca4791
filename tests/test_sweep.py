"""Sweeps: TOML parsing and its errors, the packaged sweeps, resume after SIGKILL, failure
isolation, and the Ray executor giving the same results as the local one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from selrob import presets
from selrob.config import EvalSpec, Runtime, TrainSpec
from selrob.errors import DatasetNotFound, InvalidArgument, SelrobError, UnknownName
from selrob.sweep import (
    BUILTIN_SWEEPS,
    Sweep,
    builtin_sweep,
    load_sweep,
    resolve_sweep_path,
    sweep_from_dict,
)
from selrob.sweep_exec import run_sweep

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


# --------------------------------------------------------------------------- parsing


def test_valid_file_gives_seed_major_grid(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        # a comment
        alphas = [-1, 0.5, 2]
        seeds = [3, 5]
        dataset = "fashion-mnist"
        model = "small_cnn"
        epochs = 4
        milestones = [1, 2]
        augment = true
        limit_test = 50
        corruptions = ["gaussian_noise", "fog"]
        severities = "1-3"
        attacks = "fgsm,pgd"
        epsilons = [0.0, 0.01]
        """,
    )
    sweep = load_sweep(path)
    assert sweep.name == "grid"
    assert [(s.seed, s.alpha) for s in sweep.runs()] == [
        (3, -1.0),
        (3, 0.5),
        (3, 2.0),
        (5, -1.0),
        (5, 0.5),
        (5, 2.0),
    ]
    spec = sweep.runs()[0]
    assert (
        isinstance(spec.alpha, float)
        and spec.epochs == 4
        and spec.milestones == (1, 2)
        and spec.augment is True
    )
    assert spec.limit_test == 50 and sweep.eval_spec.limit_test == 50  # limit_test sets both specs
    assert sweep.eval_spec == EvalSpec(
        limit_test=50,
        corruptions=("gaussian_noise", "fog"),
        severities=(1, 2, 3),
        attacks=("fgsm", "pgd"),
        epsilons=(0.0, 0.01),
    )
    assert sweep_from_dict(sweep.to_dict()) == sweep  # the sweep.json form round-trips


def test_seeds_as_int_and_defaults(tmp_path: Path) -> None:
    sweep = load_sweep(_write(tmp_path, 'name = "mine"\nalphas = [0]\nseeds = 3\n'))
    assert sweep.seeds == (0, 1, 2) and sweep.name == "mine"
    assert sweep.base == TrainSpec() and sweep.eval_spec == EvalSpec()
    assert [s.seed for s in sweep.runs()] == [0, 1, 2]


@pytest.mark.parametrize(
    "body,line,match",
    [
        ("alphas = [0]\nseeds = 1\n\nalpah = 3\n", 4, "unknown key 'alpah'; valid keys: alphas,"),
        (
            "alphas = [0]\nalpha = 1.0\nseeds = 1\n",
            2,
            "unknown key 'alpha' (a sweep takes 'alphas'",
        ),
        ('alphas = [0]\nseeds = 1\nepochs = "three"\n', 3, "key 'epochs' expects an integer"),
        ("alphas = [0]\nseeds = 1\n  epochs = 2.5\n", 3, "key 'epochs' expects an integer"),
        ("alphas = [0]\nseeds = 1\naugment = 1\n", 3, "key 'augment' expects true or false"),
        (
            "alphas = [0]\nseeds = 1\nattacks = [1, 2]\n",
            3,
            "key 'attacks' expects a list of strings",
        ),
        ("seeds = 1\nalphas = []\n", 2, "alpha grid is empty"),
        ("seeds = 1\nalphas = 0.5\n", 2, "key 'alphas' expects a list of numbers"),
        ('seeds = 1\nalphas = [0, "x"]\n', 2, "key 'alphas' expects finite numbers"),
        ("seeds = 1\nalphas = [1, 0, 1]\n", 2, "alphas lists 1.0 more than once"),
        ("alphas = [0]\nseeds = 0\n", 2, "seeds = 0 gives no runs"),
        ("alphas = [0]\nseeds = [-1]\n", 2, "non-negative integers"),
        ("alphas = [0]\nseeds = 1\n[train]\nepochs = 3\n", 3, "unknown key 'train'"),
    ],
)
def test_bad_entries_name_key_and_line(tmp_path: Path, body: str, line: int, match: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(InvalidArgument) as e:
        load_sweep(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert match in msg and "\n" not in msg


def test_malformed_toml_missing_keys_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"not valid TOML: .*line 2, column"):
        load_sweep(_write(tmp_path, "alphas = [0]\nseeds = \n"))
    with pytest.raises(InvalidArgument, match="missing key 'seeds'; add e.g. seeds = 3"):
        load_sweep(_write(tmp_path, "alphas = [0]\n"))
    with pytest.raises(InvalidArgument, match="no sweep file .*built-in sweep"):
        load_sweep(tmp_path / "absent.toml")
    with pytest.raises(InvalidArgument, match="^sweep: unknown key 'bogus'"):
        sweep_from_dict({"alphas": [0], "seeds": 1, "bogus": 1})
    with pytest.raises(InvalidArgument, match="limit_test differs"):
        Sweep(TrainSpec(limit_test=5), EvalSpec(), (0.0,), (0,))


def test_builtin_sweeps() -> None:
    sweeps = {name: load_sweep(builtin_sweep(name)) for name in BUILTIN_SWEEPS}
    demo = sweeps["demo"]
    assert demo.base.dataset == "fashion-mnist" and demo.base.model == "resnet20"
    assert len(demo.alphas) >= 5 and min(demo.alphas) < 0 < max(demo.alphas)
    assert demo.seeds == (0, 1) and demo.eval_spec.severities == (1, 2, 3, 4, 5)
    assert demo.eval_spec.attacks == ("fgsm", "pgd") and demo.eval_spec.corruptions == ("all",)
    assert demo.base.limit_test == demo.eval_spec.limit_test is not None  # both specs get it
    c10, tin = sweeps["paper-cifar10"], sweeps["paper-tinyimagenet"]
    assert (
        c10.alphas == presets.ALPHAS_RESNET20_CIFAR10
        and len(c10.seeds) == 20
        and c10.base.epochs == 200
    )
    assert (c10.base.dataset, c10.base.model, c10.base.milestones) == (
        "cifar10",
        "resnet20",
        (100, 150),
    )
    assert (
        tin.alphas == presets.ALPHAS_RESNET18_TINYIMAGENET
        and len(tin.seeds) == 5
        and tin.base.epochs == 90
    )
    assert (tin.base.dataset, tin.base.model, tin.base.milestones) == (
        "tinyimagenet",
        "resnet18",
        (35, 50, 65),
    )
    for s in (c10, tin):
        assert s.eval_spec.limit_test is None and s.eval_spec.analyses == (
            "dimensionality",
            "gradients",
        )
    assert resolve_sweep_path("demo") == builtin_sweep("demo")
    with pytest.raises(UnknownName, match="choose one of: demo, paper-cifar10"):
        builtin_sweep("paper-imagenet")


# --------------------------------------------------------------------------- execution


@pytest.fixture(scope="module")
def reference(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TINY sweep run uninterrupted by the local executor, one run after another."""
    root = tmp_path_factory.mktemp("reference")
    report = run_sweep(sweep_from_dict(TINY), root, _rt(idx_dir))
    assert [r.status for r in report.runs] == ["complete", "complete"]
    return root


KILLED_SWEEP = """
import sys
from pathlib import Path
from selrob.config import Runtime
from selrob.sweep import sweep_from_dict
from selrob.sweep_exec import run_sweep
run_sweep(sweep_from_dict({tiny!r}), Path({out!r}), Runtime(device="cpu", data_dir={data!r}, quiet=True, threads=1), jobs=2)
"""


def _lock_pids(root: Path) -> list[int]:
    pids = []
    for p in root.glob("*/.lock"):
        try:
            pids.append(int(p.read_text()))
        except (FileNotFoundError, ValueError):  # released, or being written this instant
            pass
    return pids


def _exists(pid: int) -> bool:
    """True while ``pid`` is running or a zombie not yet reaped (the run lock counts both as alive)."""
    return Path(f"/proc/{pid}").exists()


def test_sigkilled_sweep_resumes_to_the_uninterrupted_result(
    idx_dir: Path, tmp_path: Path, reference: Path
) -> None:
    out = tmp_path / "killed"
    script = KILLED_SWEEP.format(tiny=TINY, out=str(out), data=str(idx_dir))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("*/checkpoint.pt")):
        time.sleep(0.05)
    locks = _lock_pids(out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    status = [json.loads(p.read_text())["status"] for p in out.glob("*/metrics.json")]
    assert status.count("complete") < 2, "the kill should land mid-sweep"
    assert json.loads((out / "sweep.json").read_text()) == sweep_from_dict(TINY).to_dict()
    # the worker processes die with the sweep (and get reaped by init), so no run stays locked
    assert locks, "the workers should hold their runs' locks"
    if Path("/proc").is_dir():
        deadline = time.time() + 15
        while time.time() < deadline and any(_exists(pid) for pid in locks):
            time.sleep(0.05)
        assert not any(_exists(pid) for pid in locks), "orphaned workers outlived the sweep"

    events: list[Any] = []
    report = run_sweep(sweep_from_dict(TINY), out, _rt(idx_dir), on_event=events.append)
    assert [r.status for r in report.runs] == ["complete", "complete"], report
    assert sorted(e.alpha for e in events) == [-1.0, 1.0]
    _assert_same_runs(reference, out)
    again = run_sweep(sweep_from_dict(TINY), out, _rt(idx_dir))
    assert [r.status for r in again.runs] == ["skipped", "skipped"]


def test_failed_run_does_not_stop_the_others(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import selrob.sweep_exec as sx

    real = sx.ensure_trained

    def crash_on_alpha_3(spec: TrainSpec, *a: Any, **k: Any) -> Any:
        if spec.alpha == 3.0:
            raise RuntimeError("boom")
        return real(spec, *a, **k)

    monkeypatch.setattr(sx, "ensure_trained", crash_on_alpha_3)
    sweep = sweep_from_dict(
        {**TINY, "epochs": 1, "alphas": [1e39, 3.0, 0.0]}
    )  # 1e39: a non-finite loss
    report = run_sweep(sweep, tmp_path, _rt(idx_dir))
    assert [(r.alpha, r.status) for r in report.runs] == [
        (1e39, "failed"),
        (3.0, "failed"),
        (0.0, "complete"),
    ]
    assert (
        "non-finite" in (report.runs[0].error or "")
        and report.runs[1].error == "RuntimeError: boom"
    )
    assert not report.ok and len(report.failed) == 2 and report.count("complete") == 1
    good = _metrics(report.runs[2].run_dir)
    assert good["status"] == "complete" and good["evaluation"]["n_test"] == 64
    assert _metrics(report.runs[0].run_dir)["status"] == "failed"


def test_sweep_wide_errors_stop_before_running(idx_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="sweep 'sweep': epochs must be >= 1"):
        run_sweep(sweep_from_dict({**TINY, "epochs": 0}), tmp_path / "a", _rt(idx_dir))
    with pytest.raises(InvalidArgument, match="unknown corruption"):
        run_sweep(sweep_from_dict({**TINY, "corruptions": ["smog"]}), tmp_path / "a", _rt(idx_dir))
    assert not (tmp_path / "a").exists()  # nothing written
    with pytest.raises(InvalidArgument, match="unknown executor 'slurm'"):
        run_sweep(sweep_from_dict(TINY), tmp_path / "a", _rt(idx_dir), executor="slurm")
    with pytest.raises(InvalidArgument, match="jobs must be"):
        run_sweep(sweep_from_dict(TINY), tmp_path / "a", _rt(idx_dir), jobs=0)
    with pytest.raises(
        DatasetNotFound
    ):  # the same for every run: raised once, not recorded per run
        run_sweep(
            sweep_from_dict(TINY),
            tmp_path / "b",
            Runtime(device="cpu", data_dir=str(tmp_path / "nowhere")),
        )
    assert not [p for p in (tmp_path / "b").glob("*/")]


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
