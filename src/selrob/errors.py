"""Exceptions of selrob. Every message names the problem and the fix, in one line.

The CLI turns a :class:`SelrobError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class SelrobError(Exception):
    """Base class for errors a user can fix (bad input, missing data, bad config)."""

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


class OutputNotWritable(SelrobError):
    """The output directory cannot be created or written."""
