"""Read a study directory (``docs/formats.md#study-directory``) for the study figures.

* :func:`load_curves` — ``STUDY_DIR/curves.json``: run id -> {"keys", "epoch", metric lists}.
* :func:`load_diag` — every run's ``runs/<id>/metrics.jsonl`` ``"type": "diag"`` records.
* :func:`group_runs` — runs grouped by their grid keys without ``seed`` (one group = one cell).
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

__all__ = ["group_runs", "load_curves", "load_diag", "mean_std_curves", "run_label"]


def load_curves(study_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Parse ``curves.json``; ``FileNotFoundError`` (naming the file) if it is absent."""
    path = Path(study_dir) / "curves.json"
    if not path.is_file():
        raise FileNotFoundError(f"no curves.json in study directory {str(study_dir)!r} "
                                "(has the study finished at least one run?)")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by run id")
    return data


def _keys_of(run_dir: Path, curves: dict[str, dict]) -> dict[str, Any]:
    if run_dir.name in curves:
        return dict(curves[run_dir.name].get("keys", {}))
    cfg = run_dir / "config.json"
    if cfg.is_file():
        c = json.loads(cfg.read_text(encoding="utf-8"))
        return {k: c.get(k) for k in ("method", "weights", "seed")}
    return {}


def load_diag(study_dir: str | Path) -> dict[str, dict[str, Any]]:
    """run id -> {"keys": grid keys, "records": [diag records in file order]}.

    Runs without a ``metrics.jsonl`` or without diag records (float runs) are left out. Keys
    come from ``curves.json`` when the run is listed there, else from the run's config.json.
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
    for run_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        mfile = run_dir / "metrics.jsonl"
        if not mfile.is_file():
            continue
        recs = []
        with open(mfile, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a torn last line of a run killed mid-write
                    continue
                if rec.get("type") == "diag":
                    recs.append(rec)
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
