"""Further subcommands (sweeps, results, report, corruption tools), kept apart so cli.py stays short."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def register_more(add: Callable[..., Any]) -> None:
    """Register the subcommands implemented in later layers."""
    return None
