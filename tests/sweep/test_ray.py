"""The Ray executor: equal to the local one; clear errors when Ray or a cluster is missing."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.sweeps import (
    TINY,
    assert_same_runs,
    tiny_runtime,
    write_sweep,
)

from selrob.errors import InvalidArgument, SelrobError
from selrob.sweep import (
    sweep_from_dict,
)
from selrob.sweep.executors import run_sweep


def test_ray_executor_equals_local(idx_dir: Path, tmp_path: Path, reference: Path) -> None:
    pytest.importorskip("ray")
    report = run_sweep(
        sweep_from_dict(TINY), tmp_path, tiny_runtime(idx_dir), executor="ray", jobs=2
    )
    assert [r.status for r in report.runs] == ["complete", "complete"], report
    assert_same_runs(reference, tmp_path)
    import ray

    assert not ray.is_initialized()  # the local Ray we started is shut down


def test_ray_address_that_does_not_answer_fails_fast(idx_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    t0 = time.monotonic()
    with pytest.raises(SelrobError, match="no Ray cluster answers at 127.0.0.1:1"):
        run_sweep(
            sweep_from_dict(TINY),
            tmp_path,
            tiny_runtime(idx_dir),
            executor="ray",
            ray_address="127.0.0.1:1",
        )
    assert time.monotonic() - t0 < 30


def test_missing_ray_is_a_clear_error(
    idx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(SelrobError, match=r"^Ray is not installed; pip install selrob\[ray\]$"):
        run_sweep(sweep_from_dict(TINY), tmp_path / "runs", tiny_runtime(idx_dir), executor="ray")
    assert not (tmp_path / "runs").exists()
    with pytest.raises(InvalidArgument, match="needs the ray executor"):
        run_sweep(
            sweep_from_dict(TINY),
            tmp_path / "runs",
            tiny_runtime(idx_dir),
            ray_address="127.0.0.1:6379",
        )


# --- faults: workers killed in the middle of a run


def _ray_with_kills(tmp_path: Path, kill: str) -> Any:
    """A local Ray of 2 CPUs whose workers run helpers.ray_faults.arm with ``kill``."""
    ray = pytest.importorskip("ray")
    tests_dir = str(Path(__file__).resolve().parents[1])
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"worker_process_setup_hook": "helpers.ray_faults.arm",
                          "env_vars": {"PYTHONPATH": tests_dir, "SELROB_TEST_KILL": kill}})  # fmt: skip
    return ray


def test_a_killed_worker_is_retried_and_resumes(
    idx_dir: Path, tmp_path: Path, reference: Path
) -> None:
    marker = tmp_path / "killed"
    ray = _ray_with_kills(tmp_path, f"once:{marker}")
    try:
        runs = tmp_path / "runs"
        report = run_sweep(
            sweep_from_dict(TINY), runs, tiny_runtime(idx_dir), executor="ray", jobs=2
        )
    finally:
        ray.shutdown()
    assert marker.exists()  # one worker was killed after its first epoch
    assert [r.status for r in report.runs] == ["complete", "complete"], report
    assert_same_runs(reference, runs)  # the retry resumed to the same weights and numbers


def test_a_run_that_keeps_dying_fails_with_its_reason(
    idx_dir: Path, tmp_path: Path, reference: Path
) -> None:
    runs = tmp_path / "runs"
    victim = sorted(p.name for p in reference.glob("*/"))[0]
    ray = _ray_with_kills(tmp_path, f"always:{victim}")
    try:
        report = run_sweep(sweep_from_dict(TINY), runs, tiny_runtime(idx_dir), executor="ray", jobs=2,
                           retries=1)  # fmt: skip
    finally:
        ray.shutdown()
    by_name = {Path(r.run_dir).name: r for r in report.runs}
    assert by_name[victim].status == "failed"
    assert "Ray task failed" in by_name[victim].error and "died" in by_name[victim].error.lower()
    assert [r.status for n, r in by_name.items() if n != victim] == ["complete"]
    # once the fault is gone, the same sweep resumes the victim from its last checkpoint and
    # leaves the finished run alone
    report = run_sweep(sweep_from_dict(TINY), runs, tiny_runtime(idx_dir))
    by_name = {Path(r.run_dir).name: r.status for r in report.runs}
    assert by_name == {n: "complete" if n == victim else "skipped" for n in by_name}, report
    assert_same_runs(reference, runs)


# --- an existing cluster, started as users start one, with token authentication


@pytest.fixture
def ray_head(tmp_path: Path) -> Any:
    """``ray start --head --block`` on a free port with token authentication; stopped after."""
    pytest.importorskip("ray")
    ray_cli = Path(sys.executable).with_name("ray")
    home = tmp_path / "head-home"
    (home / ".ray").mkdir(parents=True)
    token = home / ".ray" / "auth_token"
    token.write_text(secrets.token_hex(32))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), RAY_AUTH_MODE="token")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--port", str(port), "--num-cpus", "2", "--block",
         "--include-dashboard=false", "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, "ray head did not start"
                time.sleep(0.3)
        yield port, token
    finally:
        head.terminate()  # --block: the head takes its raylet, GCS and workers down with it
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def _driver_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), **extra)
    return env


def _sweep_cli(grid: Path, out: Path, idx_dir: Path, port: int, env: dict[str, str]) -> Any:
    cmd = [sys.executable, "-m", "selrob", "sweep", str(grid), "--out", str(out), "--data-dir",
           str(idx_dir), "--executor", "ray", "--ray-address", f"127.0.0.1:{port}", "--jobs", "2",
           "--threads", "1", "--device", "cpu", "--quiet"]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _tiny_toml(tmp_path: Path) -> Path:
    lines = [f"{k} = {json.dumps(v)}" for k, v in TINY.items()]
    return write_sweep(tmp_path, "\n".join(lines) + "\n")


def test_documented_ray_address_reaches_a_token_cluster(
    idx_dir: Path, tmp_path: Path, reference: Path, ray_head: Any
) -> None:
    port, token = ray_head
    home = tmp_path / "driver-home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(token.read_text())  # copied from the head
    out = tmp_path / "runs"
    proc = _sweep_cli(_tiny_toml(tmp_path), out, idx_dir, port, _driver_env(home))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_runs(reference, out)
    # the same through Ray's environment variable, with no token file
    out2 = tmp_path / "runs-env"
    env = _driver_env(tmp_path / "empty-home", RAY_AUTH_TOKEN=token.read_text())
    proc = _sweep_cli(_tiny_toml(tmp_path), out2, idx_dir, port, env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_runs(reference, out2)


def test_a_missing_token_is_one_line_saying_where_to_put_it(
    idx_dir: Path, tmp_path: Path, ray_head: Any
) -> None:
    port, _ = ray_head
    env = _driver_env(tmp_path / "empty-home")  # no token anywhere
    proc = _sweep_cli(_tiny_toml(tmp_path), tmp_path / "runs", idx_dir, port, env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "refused this driver's authentication token" in last, proc.stderr[-2000:]
    assert "~/.ray/auth_token" in last and "RAY_AUTH_TOKEN" in last
    assert "Traceback" not in proc.stderr
    assert not any((tmp_path / "runs").glob("*/checkpoint.pt"))
