"""The run lock: one live owner; re-entrant in its process; stale locks are taken over."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from selrob import paths
from selrob.errors import RunLocked
from selrob.experiment.lock import RunLock, lock_state

TRY_LOCK = """
import sys
from selrob.errors import RunLocked
from selrob.experiment.lock import RunLock
try:
    with RunLock(sys.argv[1]):
        print("taken")
except RunLocked as exc:
    print("locked:", exc)
"""


def _other_process_tries(run_dir: Path) -> str:
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(run_dir)],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip


def test_lock_excludes_other_processes_and_nests_in_its_own(tmp_path: Path) -> None:
    assert lock_state(tmp_path) == "free"
    with RunLock(tmp_path):
        assert paths.lock_file(tmp_path).read_text() == str(os.getpid())
        assert lock_state(tmp_path) == "held"
        out = _other_process_tries(tmp_path)
        assert out.startswith("locked:") and f"process {os.getpid()}" in out
        with RunLock(tmp_path):  # the same process takes it again (sweep -> train -> eval)
            pass
        assert paths.lock_file(tmp_path).exists()  # the inner exit did not release it
    assert not paths.lock_file(tmp_path).exists()
    assert _other_process_tries(tmp_path).startswith("taken")


def test_a_forked_child_does_not_inherit_the_lock(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        pid = os.fork()
        if pid == 0:  # child: must see the parent's live lock, not nest into it
            try:
                with RunLock(tmp_path):
                    os._exit(1)
            except RunLocked:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert paths.lock_file(tmp_path).exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    paths.lock_file(tmp_path).write_text(proc.stdout.strip())  # that pid has exited
    assert lock_state(tmp_path) == "stale"
    with RunLock(tmp_path):
        assert paths.lock_file(tmp_path).read_text() == str(os.getpid())
    paths.lock_file(tmp_path).write_text("garbage")
    assert lock_state(tmp_path) == "stale"
    with RunLock(tmp_path):
        pass
    with pytest.raises(RunLocked, match="being trained"):
        paths.lock_file(tmp_path).write_text(str(os.getppid()))  # a live process, not ours
        RunLock(tmp_path).__enter__()
