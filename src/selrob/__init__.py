"""selrob: how class selectivity trades average-case against worst-case robustness.

Reproduces Leavitt & Morcos (2020), "Linking average- and worst-case perturbation robustness
via class selectivity and dimensionality". The verbs a script needs are importable from here::

    import selrob
    run = selrob.ensure_trained(selrob.TrainSpec(alpha=-1.0, epochs=5), "runs")
    metrics = selrob.ensure_evaluated(run.run_dir, selrob.EvalSpec(attacks=("pgd",)))
    x_adv = selrob.pgd(model, x, y, 8 / 255)

The specs and errors load eagerly (no torch); the torch-backed verbs load on first use, so
``import selrob.report`` and ``selrob --help`` stay torch-free. They are imported for type
checkers under ``TYPE_CHECKING``, so IDEs see every name in :data:`__all__`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from selrob._version import __version__
from selrob.config import EvalSpec, Runtime, TrainSpec
from selrob.errors import SelrobError

if TYPE_CHECKING:  # the lazy names below, for type checkers and IDEs
    from selrob.analysis.dimensionality import pca_dimensionality as pca_dimensionality
    from selrob.data import load_dataset as load_dataset
    from selrob.experiment import ensure_evaluated as ensure_evaluated
    from selrob.experiment import ensure_trained as ensure_trained
    from selrob.experiment import load_run as load_run
    from selrob.experiment import run_dir_for as run_dir_for
    from selrob.experiment.probe import measure as measure
    from selrob.perturb.attacks import fgsm as fgsm
    from selrob.perturb.attacks import pgd as pgd
    from selrob.perturb.corruptions import CORRUPTIONS as CORRUPTIONS
    from selrob.perturb.corruptions import corrupt as corrupt
    from selrob.regularizer import SelectivityRegularizer as SelectivityRegularizer
    from selrob.selectivity import selectivity_index as selectivity_index
    from selrob.sweep import load_sweep as load_sweep
    from selrob.sweep.executors import run_sweep as run_sweep

_LAZY = {
    "ensure_trained": "selrob.experiment",
    "ensure_evaluated": "selrob.experiment",
    "load_run": "selrob.experiment",
    "run_dir_for": "selrob.experiment",
    "measure": "selrob.experiment.probe",
    "load_dataset": "selrob.data",
    "corrupt": "selrob.perturb.corruptions",
    "CORRUPTIONS": "selrob.perturb.corruptions",
    "fgsm": "selrob.perturb.attacks",
    "pgd": "selrob.perturb.attacks",
    "selectivity_index": "selrob.selectivity",
    "SelectivityRegularizer": "selrob.regularizer",
    "pca_dimensionality": "selrob.analysis.dimensionality",
    "load_sweep": "selrob.sweep",
    "run_sweep": "selrob.sweep.executors",
}

__all__ = ["EvalSpec", "Runtime", "SelrobError", "TrainSpec", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import a torch-backed verb of :data:`__all__` on first access (then cached)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'selrob' has no attribute {name!r}")
