"""The run lock: one live owner; stale locks of dead processes are taken over."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from selrob import paths
from selrob.errors import RunLocked
from selrob.experiment.lock import RunLock


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        assert paths.lock_file(tmp_path).read_text() == str(os.getpid())
        with pytest.raises(RunLocked, match=f"being trained by process {os.getpid()}"):
            RunLock(tmp_path).__enter__()
    assert not paths.lock_file(tmp_path).exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    paths.lock_file(tmp_path).write_text(proc.stdout.strip())  # that pid has exited
    with RunLock(tmp_path):
        assert paths.lock_file(tmp_path).read_text() == str(os.getpid())
    paths.lock_file(tmp_path).write_text("garbage")
    with RunLock(tmp_path):
        pass
