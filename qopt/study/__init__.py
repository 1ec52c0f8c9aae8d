"""Convergence studies: TOML grid -> parallel resumable runs (staged when asked) on local
worker processes, SLURM or Ray (:mod:`qopt.study.backends`) -> results table (final, raw-BN,
validation, test-at-validation-best and last-k accuracy with 95% intervals over seeds; tuning
on validation with [tune]; Markdown and LaTeX comparison tables) and curves."""

from qopt.study.aggregate import aggregate, mean_std, summary_table, write_results
from qopt.study.config import Cell, Study, load_study_file, parse_toml, study_from_dict
from qopt.study.presets import PRESETS
from qopt.study.runner import StudyConflict, run_study

__all__ = [
    "PRESETS", "Cell", "Study", "StudyConflict", "aggregate", "load_study_file", "mean_std",
    "parse_toml", "run_study", "study_from_dict", "summary_table", "write_results",
]
