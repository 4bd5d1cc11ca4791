"""Running one experiment: the only writer of run directories.

``ensure_trained`` trains a spec unless finished (resumes if interrupted), ``ensure_evaluated``
runs the evaluation sections a spec asks for, ``load_run`` gives a finished run's spec and
model, ``run_dir_for`` names a spec's directory. Submodules: :mod:`.rundir` (the directory's
files), :mod:`.training`, :mod:`.evaluation`, :mod:`.sections` (the registry of measurements),
:mod:`.lock`, :mod:`.provenance`.
"""

from selrob.experiment.evaluation import ensure_evaluated as ensure_evaluated
from selrob.experiment.evaluation import plan as plan
from selrob.experiment.rundir import load_metrics as load_metrics
from selrob.experiment.rundir import load_run as load_run
from selrob.experiment.rundir import run_dir_for as run_dir_for
from selrob.experiment.training import RunResult as RunResult
from selrob.experiment.training import ensure_trained as ensure_trained

__all__ = [
    "RunResult",
    "ensure_evaluated",
    "ensure_trained",
    "load_metrics",
    "load_run",
    "plan",
    "run_dir_for",
]
