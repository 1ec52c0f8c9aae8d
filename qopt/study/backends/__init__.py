"""Study execution backends: ``local`` (worker processes), ``slurm`` (submitit jobs) and
``ray`` (Ray tasks), behind one protocol (:class:`~qopt.study.backends.base.Backend`: submit
runs, wait, collect outcomes) used by the one study runner, so the results table is built by
the same code whatever executes the runs.

``submitit`` and ``ray`` are optional extras (``pip install 'qopt[slurm]'``,
``'qopt[ray]'``), imported only when their backend is built (:func:`make_backend`); a missing
one is a :class:`~qopt.study.backends.base.MissingExtra` error naming the pip command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qopt.study.backends.base import (
    Backend,
    BackendError,
    MissingExtra,
    Outcome,
    RunSpec,
    run_remote,
)
from qopt.study.backends.options import BACKENDS, BackendConfig, backend_from_table

__all__ = ["BACKENDS", "Backend", "BackendConfig", "BackendError", "MissingExtra", "Outcome",
           "RunSpec", "backend_from_table", "make_backend", "run_remote"]


def make_backend(cfg: BackendConfig, out: Path, study_name: str, workers: int, threads: int,
                 warm: list[Any] | None = None) -> Backend:
    """The backend ``cfg.name`` for a study in ``out``: ``workers`` local processes, or
    submitit jobs with their files in ``out/slurm``, or Ray tasks. Imports the backend's
    optional dependency here (``MissingExtra`` if absent); starts nothing (that is
    ``__enter__``). ``warm``: configs whose data the local backend pre-loads."""
    if cfg.name == "local":
        from qopt.study.backends.local import LocalBackend

        return LocalBackend(workers, threads, warm)
    if cfg.name == "slurm":
        from qopt.study.backends.slurm import SlurmBackend

        return SlurmBackend(cfg.slurm, out / "slurm", threads, study_name)
    if cfg.name == "ray":
        from qopt.study.backends.ray import RayBackend

        return RayBackend(cfg.ray, threads, workers)
    raise ValueError(f"backend must be one of {list(BACKENDS)}, got {cfg.name!r}")
