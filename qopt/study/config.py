r"""Study configuration (TOML): tables, validation and the resolved runs.

A study file has up to six tables::

    [study]                  # how to run and report
    name = "quick"
    workers = 2              # parallel worker processes
    threads_per_worker = 1   # torch threads in each worker
    last_k = 5               # report the mean test accuracy over the last k epochs too
    out_dir = "studies/quick"  # optional; default ./studies/<name>

    [base]                   # TrainConfig fields shared by every run
    dataset = "mnist1d"
    epochs = 20

    [grid]                   # TrainConfig field -> list of values; the runs are the product
    method = ["float", "binaryconnect", "binaryrelax", "bcgd"]
    weights = ["binary", "ternary", "symmetric:2"]
    seed = [0, 1, 2]

    [methods.bcgd]           # fields or method arguments for the runs of one method
    rho = 1e-5

    [protocol]               # optional staged protocol (qopt.study.protocol)
    init_from = "float"

    [backend]                # optional: where the runs execute (qopt.study.backends.options)
    name = "slurm"           # local (default) | slurm | ray; [backend.slurm] / [backend.ray]

    [tune]                   # optional: tune every method on validation (qopt.study.tune)
    seeds = [100, 101]
    [tune.space]
    lr = [0.3, 0.1, 0.03]

How the grid resolves (conflicts, routing of ``method_args``, float runs, run ids):
:mod:`qopt.study.grid`; ``--set`` edits: :mod:`qopt.study.overrides`; the staged protocol:
:mod:`qopt.study.protocol`. Every run's :class:`~qopt.train.config.TrainConfig` is validated
when the study is loaded, before anything is written or trained.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qopt.study.backends.options import BackendConfig, backend_from_table
from qopt.study.grid import expand, normalise_methods, run_id_of
from qopt.study.overrides import apply_sets
from qopt.study.protocol import child_keys, link_parents, parse_protocol
from qopt.study.tune import TuneSpec, budgets, check_keys, parse_tune, tuning_cells
from qopt.train.config import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Cell", "Study", "load_study_file", "parse_toml", "run_id_of", "study_from_dict"]

TABLES = ("study", "base", "grid", "methods", "protocol", "backend", "tune")
#: the most worker processes / torch threads per worker a study may ask for (a typo such as
#: ``workers = 20000`` would otherwise start that many processes)
MAX_PROCESSES = 1024
STUDY_KEYS = ("name", "workers", "threads_per_worker", "out_dir", "description", "last_k")
DEFAULT_LAST_K = 5


@dataclass(frozen=True)
class Cell:
    """One run of a study: its id, its effective grid values, its resolved config and the run
    it starts from (staged protocol) or None."""

    run_id: str
    keys: dict[str, Any]
    config: TrainConfig
    parent: str | None = None


@dataclass(frozen=True)
class Study:
    """A parsed, validated study; ``raw`` is the (``--set``-edited) study dict."""

    name: str
    grid_keys: tuple[str, ...]
    cells: tuple[Cell, ...]
    workers: int = 1
    threads_per_worker: int = 1
    out_dir: str | None = None
    description: str = ""
    raw: dict = field(default_factory=dict, repr=False)
    last_k: int = DEFAULT_LAST_K
    backend: BackendConfig = field(default_factory=BackendConfig)
    tune: TuneSpec | None = None
    protocol: tuple | None = None
    child_keys: tuple[str, ...] = ()

    def default_out_dir(self) -> Path:
        return Path(self.out_dir) if self.out_dir else Path("studies") / self.name

    def cell(self, run_id: str) -> Cell:
        return next(c for c in self.cells if c.run_id == run_id)


def parse_toml(text: str, source: str = "<string>") -> dict:
    """Parse TOML text; ``ValueError`` naming the source on malformed input."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"malformed TOML in {source}: {exc}") from exc
    except RecursionError:  # tomllib recurses per nesting level
        raise ValueError(f"malformed TOML in {source}: nested too deeply") from None


def load_study_file(path: str | os.PathLike) -> Study:
    """Read and validate a study TOML file."""
    from qopt.io import read_text

    p = Path(path)
    if not p.exists():
        raise ValueError(f"study config {str(p)!r} does not exist")
    text = read_text(p, f"study config {str(p)!r}")  # a regular file of bounded size
    return study_from_dict(parse_toml(text, str(p)))


def _study_table(st: Any) -> dict[str, Any]:
    if not isinstance(st, dict):
        raise ValueError("[study] must be a table")
    bad = sorted(set(st) - set(STUDY_KEYS))
    if bad:
        raise ValueError(f"unknown [study] keys {bad}; expected {list(STUDY_KEYS)}")
    name = st.get("name", "study")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"[study] name must be a non-empty word (letters, digits, _.-), got "
                         f"{name!r}")
    for k in ("workers", "threads_per_worker", "last_k"):
        v = st.get(k, 1)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"[study] {k} must be a positive int, got {v!r}")
        if k != "last_k" and v > MAX_PROCESSES:
            raise ValueError(f"[study] {k} must be at most {MAX_PROCESSES}, got {v}")
    for k in ("out_dir", "description"):
        if k in st and not isinstance(st[k], str):
            raise ValueError(f"[study] {k} must be a string, got {st[k]!r}")
    return st


def study_from_dict(d: dict, overrides: dict[str, Any] | None = None) -> Study:
    """Build a :class:`Study` from a parsed TOML dict; ``overrides`` are ``--set`` items
    (:func:`qopt.study.overrides.apply_sets`; e.g. ``{"data_dir": ...}``). Raises
    ``ValueError``/``TypeError`` on any bad table or field, before anything is written."""
    if not isinstance(d, dict):
        raise TypeError(f"study config must be a table, got {type(d).__name__}")
    unknown = sorted(set(d) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown study tables {unknown}; expected {list(TABLES)}")
    d = apply_sets(d, overrides or {})
    st = _study_table(d.get("study", {}))
    base = d.get("base", {})
    if not isinstance(base, dict):
        raise ValueError("[base] must be a table")
    grid = d.get("grid", {})
    if not isinstance(grid, dict):
        raise ValueError("[grid] must be a table")
    for k, vals in grid.items():
        if not isinstance(vals, list) or not vals:
            raise ValueError(f"[grid] {k} must be a non-empty list, got {vals!r}")
        dup = [v for i, v in enumerate(vals) if v in vals[:i]]
        if dup:
            raise ValueError(f"[grid] {k} lists {dup[0]!r} twice (got {vals!r}): every value "
                             "of a grid key must be distinct")
    methods = normalise_methods(d.get("methods", {}) or {})
    backend = backend_from_table(d.get("backend", {}))
    if not grid and not base:
        raise ValueError("the study is empty: it defines no runs; give a [grid] (and/or "
                         "[base])")
    protocol = parse_protocol(d.get("protocol"))
    kids_only = child_keys(d.get("protocol"), tuple(grid))
    found = expand(base, grid, methods, protocol[0] if protocol else None, kids_only)
    cells = [Cell(rid, eff, cfg) for rid, eff, cfg in found]
    links = link_parents(cells, tuple(grid), protocol, kids_only)
    cells = [Cell(c.run_id, c.keys, c.config, links.get(c.run_id)) for c in cells]
    tune = parse_tune(d.get("tune"), grid, base)
    study = Study(st.get("name", "study"), tuple(grid), tuple(cells), st.get("workers", 1),
                  st.get("threads_per_worker", 1), st.get("out_dir"),
                  st.get("description", ""), d, st.get("last_k", DEFAULT_LAST_K), backend,
                  tune, protocol, kids_only)
    if tune is not None:  # checked up front: keys, equal budgets, every tuning config
        check_keys(tune, {c.config.method for c in cells
                          if not protocol or c.config.method != protocol[0]})
        budgets(study)
        tuning_cells(study)
    return study
