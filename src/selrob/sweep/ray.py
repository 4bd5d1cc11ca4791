"""The Ray executor: one Ray task per run, on a local Ray or an existing cluster.

Each task runs :func:`selrob.sweep.run.run_one` with ``cpus`` CPUs (and one GPU when the
device means CUDA). Without an address selrob starts a private local Ray (``address="local"``),
never a cluster that happens to run on the machine. Connecting to a cluster is bounded in
time, so an address that never answers fails with one clear line instead of hanging the sweep.

Token authentication (Ray >= 2.52; on by default for clusters started with ``ray start`` since
2.59): a driver given an explicit address sends the cluster's token only when
``RAY_AUTH_MODE=token`` is set in its environment before Ray is imported. selrob sets it when
the user has not chosen a mode and a token is at hand in one of Ray's documented places
(``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``); a cluster without
authentication ignores the token. A cluster that rejects the token is one line naming those
places.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch

from selrob.devices import cpu_cores
from selrob.errors import ExecutorUnavailable
from selrob.sweep.run import failed, run_one

RAY_CONNECT_TIMEOUT_S = 45.0  # above Ray's own 20 s GCS retry window, so its reason is seen
TOKEN_HELP = (
    "give this machine the cluster's token: run `ray get-auth-token` on the head and put its "
    "output in ~/.ray/auth_token here, or set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH to a file "
    "holding it)"
)


def run_ray(
    ray: Any,
    args: list[tuple[Any, ...]],
    done: Callable[[int, dict[str, Any]], None],
    address: str | None,
    cpus: int,
    device: str,
    retries: int = 2,
    jobs: int = 1,
) -> None:
    """One Ray task per run (``cpus`` CPUs each, and ``1 / jobs`` of a GPU when ``device``
    means CUDA, so ``jobs`` runs share each GPU).

    A task whose worker dies (killed, out of memory, a node lost) is retried up to ``retries``
    times by Ray; the retry resumes the run from its last checkpoint (the dead worker's run
    lock is stale and is taken over). A run that still fails is reported with Ray's reason.
    """
    gpus = gpu_share(device, jobs, torch.cuda.is_available())
    with _ray_session(ray, address, cpu_cores()):
        have = ray.cluster_resources()
        if have.get("CPU", 0) < cpus or have.get("GPU", 0) < gpus:
            raise ExecutorUnavailable(
                f"the Ray cluster has {have.get('CPU', 0):g} CPUs and {have.get('GPU', 0):g} GPUs but a run asks for "
                f"{cpus} CPUs and {gpus:g} GPU; lower --threads / raise --jobs, or use --device cpu"
            )
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=retries)(run_one)
        pending = {task.remote(*a): i for i, a in enumerate(args)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except Exception as e:  # noqa: BLE001 - the worker died or Ray failed the task
                    result = failed(f"Ray task failed: {type(e).__name__}: {_first_line(e)}")
                done(i, result)
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)


def gpu_share(device: str, jobs: int, cuda: bool) -> float:
    """The GPU fraction one Ray task asks for: ``1 / jobs`` when runs go to CUDA (``device``
    names it, or is 'auto' where this driver sees CUDA), else 0."""
    on_gpu = device.startswith("cuda") or (device == "auto" and cuda)
    return 1.0 / jobs if on_gpu else 0.0


def import_ray(address: str | None = None) -> Any:
    """Import Ray, first enabling token authentication for an explicit ``address`` (see above)."""
    if address and address not in ("auto", "local") and "ray" not in sys.modules:
        _enable_token_auth_if_token_at_hand()
    try:
        import ray
    except ImportError:
        raise ExecutorUnavailable("Ray is not installed; pip install selrob[ray]") from None
    return ray


def token_at_hand() -> bool:
    """Whether a Ray token is set in the environment or sits in Ray's default token file."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def _enable_token_auth_if_token_at_hand() -> None:
    """Set ``RAY_AUTH_MODE=token`` (read once, when Ray is imported) unless the user chose a mode."""
    if "RAY_AUTH_MODE" not in os.environ and token_at_hand():
        os.environ["RAY_AUTH_MODE"] = "token"


@contextlib.contextmanager
def _ray_session(ray: Any, address: str | None, cores: int) -> Iterator[None]:
    """Connect to ``address`` (failing within ~45 s if it does not answer) or start a local Ray;
    shut down on exit what this call started. A Ray already initialised by the caller is reused."""
    if ray.is_initialized():
        yield
        return
    if address:
        _probe(address)
        _init_with_timeout(ray, address)
    else:
        ray.init(address="local", num_cpus=cores, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _probe(address: str) -> None:
    """TCP-connect to ``host:port`` of a Ray address (``ray://`` too); SelrobError if nobody answers."""
    import socket

    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and the like: left to ray.init (under its timeout)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise ExecutorUnavailable(
            f"no Ray cluster answers at {address} ({e.strerror or e}); start one with `ray start --head` or fix --ray-address"
        ) from None


def _init_with_timeout(ray: Any, address: str) -> None:
    """``ray.init(address=...)`` in a thread, so a cluster that never answers cannot hang the sweep."""
    import threading

    box: dict[str, BaseException] = {}

    def connect() -> None:
        try:
            ray.init(address=address, log_to_driver=False)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=connect, daemon=True, name="selrob-ray-init")
    t.start()
    t.join(RAY_CONNECT_TIMEOUT_S)
    if t.is_alive():
        raise ExecutorUnavailable(
            f"the Ray cluster at {address} did not answer within {RAY_CONNECT_TIMEOUT_S:g} s; check --ray-address"
        )
    if "error" in box:
        if _is_auth_error(box["error"]):
            mode = os.environ.get("RAY_AUTH_MODE", "unset")
            raise ExecutorUnavailable(
                f"the Ray cluster at {address} refused this driver's authentication token "
                f"(RAY_AUTH_MODE {mode}, token {'found' if token_at_hand() else 'not found'}); {TOKEN_HELP}"
            ) from None
        raise ExecutorUnavailable(
            f"cannot connect to the Ray cluster at {address}: {_first_line(box['error'])}; check --ray-address"
        ) from None


def _is_auth_error(e: BaseException | None) -> bool:
    """Whether Ray's connection error, or one it was raised from, is an authentication failure."""
    while e is not None:
        if type(e).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
