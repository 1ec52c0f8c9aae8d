r"""Study configuration (TOML) and grid expansion.

A study file has four tables::

    [study]                  # how to run
    name = "quick"
    workers = 2              # parallel worker processes
    threads_per_worker = 1   # torch threads in each worker
    out_dir = "studies/quick"  # optional; default ./studies/<name>

    [base]                   # TrainConfig fields shared by every run
    dataset = "mnist1d"
    model = "cnn1d"
    epochs = 20

    [grid]                   # TrainConfig field -> list of values; the runs are the product
    method = ["float", "binaryconnect", "binaryrelax", "bcgd"]
    weights = ["binary", "ternary", "symmetric:2"]
    seed = [0, 1, 2]

    [methods.binaryrelax]    # TrainConfig overrides for the runs of one method
    method_args = { lam0 = 1.0, growth = 1.04 }

The grid is the Cartesian product in the order the keys are written; a ``float`` run has no
weight set, so its ``weights`` value is dropped and the duplicates removed (a grid of M methods x
S sets x K seeds with float among the methods has ((M-1) S + 1) K runs). Every run's resolved
:class:`~qopt.train.config.TrainConfig` is validated when the study is loaded, before anything
trains.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qopt.train.config import ALIASES, METHODS, TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TABLES = ("study", "base", "grid", "methods")
STUDY_KEYS = ("name", "workers", "threads_per_worker", "out_dir", "description")


@dataclass(frozen=True)
class Cell:
    """One run of a study: its id, its grid values and its resolved config."""

    run_id: str
    keys: dict[str, Any]
    config: TrainConfig


@dataclass(frozen=True)
class Study:
    """A parsed, validated study."""

    name: str
    grid_keys: tuple[str, ...]
    cells: tuple[Cell, ...]
    workers: int = 1
    threads_per_worker: int = 1
    out_dir: str | None = None
    description: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    def default_out_dir(self) -> Path:
        return Path(self.out_dir) if self.out_dir else Path("studies") / self.name


def parse_toml(text: str, source: str = "<string>") -> dict:
    """Parse TOML text; ``ValueError`` naming the source on malformed input."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"malformed TOML in {source}: {exc}") from exc


def load_study_file(path: str | os.PathLike) -> Study:
    """Read and validate a study TOML file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"study config {str(p)!r} does not exist (or is not a file)")
    return study_from_dict(parse_toml(p.read_text(encoding="utf-8"), str(p)))


def _slug(v: Any) -> str:
    s = "none" if v is None else str(v).lower()
    return re.sub(r"[^a-z0-9.+-]+", "", s.replace(":", "").replace(",", "-"))[:40] or "x"


def run_id_of(keys: dict[str, Any]) -> str:
    """Readable run id from the grid values, e.g. ``bcgd_ternary_seed1``, ``lr0.1_seed0``."""
    plain = ("method", "weights", "dataset", "model")
    parts = [_slug(v) if k in plain else f"{_slug(k.replace('_', ''))}{_slug(v)}"
             for k, v in keys.items()]
    return "_".join(parts) or "run"


def study_from_dict(d: dict, overrides: dict[str, Any] | None = None) -> Study:
    """Build a :class:`Study` from a parsed TOML dict; ``overrides`` (e.g. ``data_dir``)
    are applied to every run on top of ``[base]``. Raises ``ValueError`` on any bad field."""
    if not isinstance(d, dict):
        raise TypeError(f"study config must be a table, got {type(d).__name__}")
    unknown = sorted(set(d) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown study tables {unknown}; expected {list(TABLES)}")
    st = dict(d.get("study", {}))
    bad = sorted(set(st) - set(STUDY_KEYS))
    if bad:
        raise ValueError(f"unknown [study] keys {bad}; expected {list(STUDY_KEYS)}")
    name = st.get("name", "study")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"[study] name must be a non-empty word (letters, digits, _.-), got "
                         f"{name!r}")
    workers, threads = st.get("workers", 1), st.get("threads_per_worker", 1)
    for k, v in (("workers", workers), ("threads_per_worker", threads)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"[study] {k} must be a positive int, got {v!r}")
    base = {**dict(d.get("base", {})), **(overrides or {})}
    grid = dict(d.get("grid", {}))
    for k, vals in grid.items():
        if not isinstance(vals, list) or not vals:
            raise ValueError(f"[grid] {k} must be a non-empty list, got {vals!r}")
    methods = dict(d.get("methods", {}))
    for m, tab in methods.items():
        if ALIASES.get(m, m) not in METHODS:
            raise ValueError(f"[methods.{m}]: unknown method; expected one of {METHODS}")
        if not isinstance(tab, dict):
            raise ValueError(f"[methods.{m}] must be a table")
    methods = {ALIASES.get(m, m): tab for m, tab in methods.items()}
    keys = tuple(grid)
    cells: dict[str, Cell] = {}
    for combo in itertools.product(*(grid[k] for k in keys)):
        vals = dict(zip(keys, combo))
        merged = {**base, **vals}
        method = merged.get("method", TrainConfig.method)
        if isinstance(method, str):
            method = ALIASES.get(method.lower(), method.lower())
            merged["method"] = method
            vals = {**vals, "method": method} if "method" in vals else vals
            merged.update(methods.get(method, {}))
        if method == "float":
            merged["weights"] = None
            if "weights" in vals:
                vals = {**vals, "weights": None}
        try:
            cfg = TrainConfig.from_dict(merged).validate()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"grid cell {vals}: {exc}") from exc
        rid = run_id_of(vals)
        if rid in cells and cells[rid].config != cfg:
            rid = f"{rid}_{len(cells)}"
        cells.setdefault(rid, Cell(rid, vals, cfg))
    if not cells:
        raise ValueError("the study grid is empty")
    return Study(name, keys, tuple(cells.values()), workers, threads, st.get("out_dir"),
                 st.get("description", ""), d)
