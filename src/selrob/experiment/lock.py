"""The lock of a run directory: one live process trains or evaluates a run at a time.

The lock is a file created with ``O_EXCL`` holding the owner's pid. A lock whose owner is gone
(not running, or a zombie left by a SIGKILL) is stale and is taken over, so a crashed run
never blocks its own resumption. The lock is re-entrant within a process (a sweep holds it
over training and evaluation, which take it again): the process-wide table of held locks is
the one piece of module state, and it only ever names this process's own locks.
"""

from __future__ import annotations

import os
from pathlib import Path

from selrob import paths
from selrob.errors import RunLocked


class RunLock:
    """Context manager holding ``run_dir``'s lock; RunLocked when a live process holds it."""

    _held: dict[Path, int] = {}  # lock file -> nesting depth, for this process's locks only
    _pid = os.getpid()  # whose table _held is: a forked child starts with an empty one

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(paths.lock_file(run_dir)).resolve()

    def __enter__(self) -> RunLock:
        if RunLock._pid != os.getpid():  # forked: the parent's locks are not ours
            RunLock._held, RunLock._pid = {}, os.getpid()
        if self.path in RunLock._held:  # already ours: nest
            RunLock._held[self.path] += 1
            return self
        self._acquire()
        RunLock._held[self.path] = 1
        return self

    def _acquire(self) -> None:
        for _ in range(2):  # a stale lock is removed once, then taken
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                return
            except FileExistsError:
                try:
                    pid = int(self.path.read_text() or 0)
                    os.kill(pid, 0)  # raises if no such process
                    if _is_zombie(pid):
                        raise ProcessLookupError
                except (ValueError, ProcessLookupError, FileNotFoundError):
                    self.path.unlink(missing_ok=True)  # stale: owner is gone
                    continue
                except PermissionError:
                    pass  # alive, owned by another user
                raise RunLocked(
                    f"{self.path.parent} is being trained by process {pid}; wait for it or kill it"
                ) from None
        raise RunLocked(
            f"cannot take the lock {self.path}; remove it if no selrob process is running"
        )

    def __exit__(self, *exc: object) -> None:
        RunLock._held[self.path] -= 1
        if RunLock._held[self.path] == 0:
            del RunLock._held[self.path]
            self.path.unlink(missing_ok=True)


def lock_state(run_dir: Path) -> str:
    """ "free", "held" (by a live process) or "stale" (its owner is gone), without taking it."""
    path = paths.lock_file(run_dir)
    try:
        pid = int(path.read_text() or 0)
    except FileNotFoundError:
        return "free"
    except (OSError, ValueError):
        return "stale"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "stale"
    except PermissionError:
        return "held"
    return "stale" if _is_zombie(pid) else "held"


def _is_zombie(pid: int) -> bool:
    """A killed process not yet reaped still answers kill(pid, 0); /proc says it is dead (Z)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
