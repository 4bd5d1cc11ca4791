"""selrob: how class selectivity trades average-case against worst-case robustness.

Reproduces Leavitt & Morcos (2020), "Linking average- and worst-case perturbation robustness
via class selectivity and dimensionality". The public API is small; see the README.
"""

from __future__ import annotations

__version__ = "0.1.0"

from selrob.config import EvalSpec, Runtime, TrainSpec  # noqa: E402
from selrob.errors import SelrobError  # noqa: E402

__all__ = ["EvalSpec", "Runtime", "SelrobError", "TrainSpec", "__version__"]
