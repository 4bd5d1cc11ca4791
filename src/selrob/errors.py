"""Every exception selrob raises on purpose. Each message names the problem and the fix, in one line.

The CLI turns a :class:`SelrobError` into one line on stderr and exit code ``exit_code`` (2,
or 3 for a run that failed), never a traceback. Library code raises the most specific class.
"""

from __future__ import annotations


class SelrobError(Exception):
    """Base class for errors a user can fix (bad input, missing data, bad state)."""

    exit_code: int = 2


class DatasetNotFound(SelrobError):
    """A dataset's files are not where we looked."""


class MalformedData(SelrobError):
    """A dataset file exists but is truncated, corrupt or of the wrong format."""


class UnknownName(SelrobError):
    """A registry lookup failed (model, dataset, corruption, attack, ...)."""


class InvalidArgument(SelrobError):
    """A value is out of range or of the wrong type (epsilon, severity, alpha, ...)."""


class RunFailed(SelrobError):
    """A training run stopped on a non-finite loss; metrics.json records why."""

    exit_code = 3


class RunIncomplete(SelrobError):
    """A run has not finished training (or a sweep stopped before its last epoch)."""


class RunLocked(SelrobError):
    """Another live process holds a run directory's lock."""


class DamagedRun(SelrobError):
    """A run directory's files are missing, truncated, unreadable or inconsistent.

    The message names the file, what is wrong and the fix; nothing in the directory is changed.
    """


class NotARun(SelrobError):
    """A directory is not a selrob run, or its spec does not match its name."""


class OutputNotWritable(SelrobError):
    """The output directory cannot be created or written."""


class NoRuns(SelrobError):
    """A runs directory holds no run (no subdirectory with a spec.json)."""


class NoFigureData(SelrobError):
    """The runs hold none of the measurements a figure needs (e.g. no attack was evaluated)."""


class ExecutorUnavailable(SelrobError):
    """A sweep executor cannot start (Ray missing, a cluster that does not answer, too few CPUs)."""
