"""Read a study directory (``docs/formats.md#study-directory``) for the study figures.

* :func:`load_curves` — ``STUDY_DIR/curves.json``: run id -> {"keys", "epoch", metric lists}.
  ``curves.json`` is rewritten by every ``qopt study`` call from the study's *current* cells,
  so it is the list of runs a figure shows: a run directory left under ``runs/`` by an earlier
  version of the study (a changed grid list) is not part of the study and is never drawn.
  Each run's keys are completed with its effective ``method`` and ``weights`` (from its
  ``config.json``) when the study fixes them in ``[base]`` rather than in ``[grid]``, so a
  figure can always tell the weight set.
* :func:`load_diag` — the ``"type": "diag"`` records of those runs' ``runs/<id>/metrics.jsonl``.
* :func:`group_runs` — runs grouped by their grid keys without ``seed`` (one group = one cell).
* :func:`varying_keys` / :func:`cell_extra` — the keys whose value differs between cells and
  the words naming a cell by them: every such key appears in the cell's legend label.
* :func:`mean_std_curves` — pointwise mean and sample std (ddof = 1; 0 for one seed) of equally
  indexed curves, ignoring missing values (None/NaN) pointwise.

Nothing here computes training quantities: it only reads what the trainer logged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["bn_recalibrated", "cell_extra", "group_runs", "load_curves", "load_diag",
           "mean_std_curves", "run_label", "varying_keys"]

#: keys every figure needs; filled from a run's config.json where the grid does not vary them
COMPLETED_KEYS = ("method", "weights")


def read_metrics(mfile: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl`` in file order. The trainer writes each record
    as one line ending in a newline, so only a last line without its newline (a write cut by a
    kill) is skipped; any other line that is not a JSON object is damage: ``ValueError``
    naming the file and the line number (a figure is never drawn from a damaged log)."""
    mfile = Path(mfile)
    with open(mfile, "rb") as fh:
        lines = fh.read().split(b"\n")
    out = []
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            if i == len(lines):  # no newline after it: the torn last line of a killed run
                continue
            raise ValueError(f"{str(mfile)!r} line {i} is not a JSON record (a damaged log; "
                             "`qopt verify run` reports it)") from None
        if not isinstance(rec, dict):
            raise ValueError(f"{str(mfile)!r} line {i} is not a JSON object (a damaged log)")
        out.append(rec)
    return out


def load_curves(study_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Parse ``curves.json``; ``FileNotFoundError`` (naming the file) if it is absent."""
    path = Path(study_dir) / "curves.json"
    if not path.is_file():
        raise FileNotFoundError(f"no curves.json in study directory {str(study_dir)!r} "
                                "(has the study finished at least one run?)")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by run id")
    for rid, entry in data.items():
        if isinstance(entry, dict):
            entry["keys"] = _completed(Path(study_dir) / "runs" / rid,
                                       dict(entry.get("keys") or {}))
    return data


def _read_config(run_dir: Path) -> dict[str, Any]:
    cfg = run_dir / "config.json"
    if not cfg.is_file():
        return {}
    try:
        c = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return c if isinstance(c, dict) else {}


def _completed(run_dir: Path, keys: dict[str, Any]) -> dict[str, Any]:
    """``keys`` plus the run's effective :data:`COMPLETED_KEYS` where the grid lacks them."""
    missing = [k for k in COMPLETED_KEYS if k not in keys]
    if missing:
        cfg = _read_config(run_dir)
        for k in missing:
            if k in cfg:
                keys[k] = cfg[k]
    return keys


def _keys_of(run_dir: Path, curves: dict[str, dict]) -> dict[str, Any]:
    if run_dir.name in curves:
        return dict(curves[run_dir.name].get("keys", {}))
    cfg = _read_config(run_dir)
    return {k: cfg.get(k) for k in (*COMPLETED_KEYS, "seed") if k in cfg}


def load_diag(study_dir: str | Path) -> dict[str, dict[str, Any]]:
    """run id -> {"keys": grid keys, "records": [diag records in file order]}.

    Only the study's current runs are read: those listed in ``curves.json`` (module
    docstring); without a ``curves.json`` (a study whose first runs have not finished yet)
    every run directory is. Runs without a ``metrics.jsonl`` or without diag records (float
    runs) are left out. Keys come from ``curves.json`` (completed from config.json).
    """
    study_dir = Path(study_dir)
    runs_dir = study_dir / "runs"
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"no runs/ directory in study directory {str(study_dir)!r}")
    try:
        curves = load_curves(study_dir)
    except FileNotFoundError:
        curves = {}
    out: dict[str, dict[str, Any]] = {}
    dirs = sorted(p for p in runs_dir.iterdir() if p.is_dir())
    if curves:
        dirs = [p for p in dirs if p.name in curves]
    for run_dir in dirs:
        mfile = run_dir / "metrics.jsonl"
        if not mfile.is_file():
            continue
        recs = [rec for rec in read_metrics(mfile) if rec.get("type") == "diag"]
        if recs:
            out[run_dir.name] = {"keys": _keys_of(run_dir, curves), "records": recs}
    return out


def run_label(keys: dict[str, Any], exclude: Iterable[str] = ("seed",)) -> tuple:
    """The cell of a run: its grid values (except ``exclude``) as a sorted (key, value) tuple."""
    ex = set(exclude)
    return tuple(sorted((k, "none" if v is None else str(v)) for k, v in keys.items()
                        if k not in ex))


def group_runs(runs: dict[str, dict[str, Any]]) -> dict[tuple, list[str]]:
    """Cell -> run ids (insertion order kept), grouping by every grid key except ``seed``."""
    groups: dict[tuple, list[str]] = {}
    for rid, r in runs.items():
        groups.setdefault(run_label(r.get("keys", {})), []).append(rid)
    return groups


def bn_recalibrated(study_dir: str | Path, run_ids: Iterable[str]) -> bool:
    """Whether any of the runs re-estimated its BatchNorm statistics for its final result
    (``result.json`` ``final.bn_recalibrated``)."""
    for rid in run_ids:
        path = Path(study_dir) / "runs" / rid / "result.json"
        try:
            res = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(res, dict) and (res.get("final") or {}).get("bn_recalibrated"):
            return True
    return False


def varying_keys(cells: Iterable[tuple]) -> list[str]:
    """The keys whose value differs between ``cells`` (:func:`run_label` tuples), in first-seen
    order; a key absent from some cell counts as differing."""
    cells = [dict(c) for c in cells]
    keys = list(dict.fromkeys(k for c in cells for k in c))
    return [k for k in keys if len({c.get(k, "\0absent") for c in cells}) > 1]


def cell_extra(cell: tuple, keys: Sequence[str]) -> str:
    """The values of ``keys`` in ``cell`` in words (``"lr 0.02, STE ReLU"``; empty if none)."""
    from figures.labels import grid_value_label

    d = dict(cell)
    return ", ".join(grid_value_label(k, d[k]) for k in keys if k in d)


def _num(x: Any) -> float:
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def mean_std_curves(curves: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pointwise (mean, sample std, count) over curves of possibly different lengths.

    Index i uses every curve that has a finite value at i; std is 0 where one value exists and
    NaN where none does.
    """
    if not curves:
        raise ValueError("curves must contain at least one curve")
    n = max(len(c) for c in curves)
    arr = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        arr[i, :len(c)] = [_num(x) for x in c]
    fin = np.isfinite(arr)
    cnt = fin.sum(axis=0)
    safe = np.where(fin, arr, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, safe.sum(axis=0) / np.maximum(cnt, 1), np.nan)
        dev = np.where(fin, arr - mean, 0.0)
        var = np.where(cnt > 1, (dev**2).sum(axis=0) / np.maximum(cnt - 1, 1), 0.0)
    std = np.where(cnt > 0, np.sqrt(var), np.nan)
    return mean, std, cnt
