"""Confidence intervals over seeds: moved to :mod:`qopt.study.stats` (the one implementation
that studies and ``qopt reproduce`` share); re-exported here."""

from qopt.study.stats import (  # noqa: F401
    ACCURACY,
    LEVEL,
    Interval,
    _mean_sd,
    _tq,
    paired_interval,
    t_interval,
    welch_interval,
)

__all__ = ["ACCURACY", "LEVEL", "Interval", "paired_interval", "t_interval", "welch_interval"]
