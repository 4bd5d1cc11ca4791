"""Every run's metrics as tidy pandas tables (no torch import).

``load_runs`` gives the wide table (one row per run: spec fields, status, scalar summaries;
:mod:`.wide` lists the columns); the long tables (``corruption_table``, ``attack_table``, ...,
:mod:`.tables`) keep one row per measurement for the figures; ``save_results`` writes them.
Damaged run directories are read tolerantly (:mod:`.runs`).
"""

from selrob.errors import NoRuns as NoRuns
from selrob.results.runs import Run as Run
from selrob.results.runs import read_runs as read_runs
from selrob.results.tables import TABLES as TABLES
from selrob.results.tables import attack_table as attack_table
from selrob.results.tables import corruption_table as corruption_table
from selrob.results.tables import dimensionality_table as dimensionality_table
from selrob.results.tables import gradient_table as gradient_table
from selrob.results.tables import load_all as load_all
from selrob.results.tables import save_results as save_results
from selrob.results.tables import selectivity_layer_table as selectivity_layer_table
from selrob.results.wide import attack_column as attack_column
from selrob.results.wide import attack_columns as attack_columns
from selrob.results.wide import load_runs as load_runs
from selrob.results.wide import metric_columns as metric_columns
from selrob.results.wide import mid_epsilon_column as mid_epsilon_column
from selrob.results.wide import summary_table as summary_table

__all__ = [
    "TABLES",
    "NoRuns",
    "Run",
    "attack_column",
    "attack_columns",
    "attack_table",
    "corruption_table",
    "dimensionality_table",
    "gradient_table",
    "load_all",
    "load_runs",
    "metric_columns",
    "mid_epsilon_column",
    "read_runs",
    "save_results",
    "selectivity_layer_table",
    "summary_table",
]
