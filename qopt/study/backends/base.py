"""The backend protocol: what the study runner hands a backend, and what it gets back.

The runner (:mod:`qopt.study.runner`) owns the study: which runs are finished, which are ready
(a staged run waits for its parent), the budget, the progress lines, ``error.txt`` and the
results table. A backend only executes runs: :meth:`Backend.submit` a batch of
:class:`RunSpec`, :meth:`Backend.wait` until at least one ends, and report an :class:`Outcome`
per run. Every backend trains a run with the same function
(:func:`qopt.study.workers.run_cell`: ``qopt.train.train`` with ``resume=True`` in the run's
directory), with the same number of torch threads, so a study's results do not depend on the
backend (a test compares the results tables of the three).

The run directory is the only channel for results: a run is finished when its
``result.json`` exists (the runner reads it), so nothing a backend returns is trusted with
data, and a result can never be lost in transit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = ["Backend", "BackendError", "MissingExtra", "Outcome", "RunSpec", "require",
           "run_remote"]

Status = Literal["done", "failed", "in_use"]


class BackendError(ValueError):
    """The backend cannot run the study (a missing extra, a refused submission)."""


class MissingExtra(BackendError):
    """An optional dependency of a backend is not installed (the message names the pip
    command)."""


def require(module: str, extra: str) -> Any:
    """Import ``module`` (lazily: only the backend that needs it does), or raise
    :class:`MissingExtra` naming ``pip install 'qopt[<extra>]'``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"the {extra} backend needs {module}, which is not installed "
                           f"({exc}); install it with: pip install 'qopt[{extra}]'") from None


@dataclass(frozen=True)
class RunSpec:
    """One run to execute: its id, its config (``TrainConfig.to_dict()``, with ``init_from``
    already pointing at its parent's directory), its run directory, its torch threads, and the
    working directory of the study's main process (``cwd``), against which relative paths
    (``run_dir``, ``data_dir``, ``init_from``) are resolved where the run executes."""

    run_id: str
    config: dict[str, Any]
    run_dir: str
    threads: int
    cwd: str = ""


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``done`` (its ``result.json`` exists), ``failed`` (``message`` says
    why: one line for a user-level failure, else a traceback) or ``in_use`` (another live
    process holds the run directory's lock; ``message`` names it): not a failure, the run is
    neither recomputed nor marked failed, and a later call picks it up."""

    status: Status
    message: str = ""
    time_s: float = 0.0

    @classmethod
    def from_dict(cls, d: Any) -> Outcome:
        """From :func:`qopt.study.workers.run_cell`'s dict (or a JSON outcome file)."""
        if not isinstance(d, dict):
            return cls("failed", f"malformed run outcome {d!r}")
        t = float(d.get("time", 0.0) or 0.0)
        if "in_use" in d:
            return cls("in_use", str(d["in_use"]), t)
        if "error" in d:
            return cls("failed", str(d["error"]), t)
        return cls("done", "", t)


class Backend(Protocol):
    """What the study runner needs of an execution backend (module docstring).

    Used as a context manager (``__enter__`` acquires the resources: a process pool, a Ray
    connection; ``__exit__`` releases them), then any number of ``submit``/``wait`` calls."""

    name: str

    def describe(self) -> str:
        """Where the runs go, for the study's header line (e.g. ``2 local worker(s)``)."""
        ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...

    def submit(self, specs: list[RunSpec]) -> None:
        """Start (or queue) ``specs``; may raise :class:`BackendError` (nothing started)."""
        ...

    def running(self) -> int:
        """How many submitted runs have not been reported by :meth:`wait` yet."""
        ...

    def wait(self) -> list[tuple[RunSpec, Outcome]]:
        """Block until at least one submitted run ends; return every run that has ended since
        the last call (each reported exactly once)."""
        ...


def set_threads(threads: int) -> None:
    """``threads`` intra-op torch threads and one inter-op thread in this process (the
    study's determinism: CPU reductions are split by thread)."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started in this process
        pass


def run_remote(spec: RunSpec) -> dict[str, Any]:
    """The job of a remote backend (a SLURM job, a Ray task): move to the study's working
    directory, set the threads, then train the run (:func:`qopt.study.workers.run_cell`). A
    run whose ``result.json`` already exists (a duplicate job: the study was rerun while a
    queued job waited) is not retrained. Returns the outcome dict without the result (the
    runner reads ``result.json``)."""
    import os

    from qopt.study.workers import run_cell

    if spec.cwd and os.getcwd() != spec.cwd:
        if not os.path.isdir(spec.cwd):
            return {"error": f"the study's working directory {spec.cwd!r} does not exist where "
                             "this run executes; the study directory must be on a file system "
                             "shared with the backend's nodes", "time": 0.0}
        os.chdir(spec.cwd)
    if (Path(spec.run_dir) / "result.json").exists():
        return {"time": 0.0, "note": "already finished"}
    t0 = time.perf_counter()
    set_threads(spec.threads)
    out = run_cell(spec.config, spec.run_dir)
    out.pop("result", None)
    out["time"] = time.perf_counter() - t0
    return out
