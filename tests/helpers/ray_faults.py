"""Worker deaths inside Ray tasks, armed by Ray's ``worker_process_setup_hook``.

``SELROB_TEST_KILL`` chooses the fault: ``once:MARKER`` SIGKILLs the first worker that saves
an epoch-1 checkpoint (the marker file, created with O_EXCL, makes it the only one);
``always:RUN_NAME`` SIGKILLs every attempt at that run right after each checkpoint it writes.
The kill comes after the checkpoint is written, so a retry has something to resume from.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any


def arm() -> None:
    """Wrap ``selrob.train.save_checkpoint`` in this worker so that it dies as configured."""
    import selrob.train as train

    mode, _, target = os.environ["SELROB_TEST_KILL"].partition(":")
    original = train.save_checkpoint

    def save_then_maybe_die(path: Path, model: Any, opt: Any, epoch: int, records: Any) -> None:
        original(path, model, opt, epoch, records)
        if mode == "always" and Path(path).parent.name != target:
            return
        if mode == "once":
            if epoch != 1:
                return
            try:
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return  # some worker has died already
        os.kill(os.getpid(), signal.SIGKILL)

    train.save_checkpoint = save_then_maybe_die
