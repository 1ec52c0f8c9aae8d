r"""Benchmark scaling: exact projection time relative to its floor, against tensor size.

Reads the JSON that ``qopt bench`` writes beside BENCHMARKS.md (``{device_kind: results}``,
see :mod:`benchmarks.suite`). For every device kind present and every projection (one line per
combination of the rows' label columns, e.g. set × granularity), panel (a) plots the ratio
time / floor against the number of elements n (log–log; 1 = as fast as the floor: one
elementwise pass, or a sort for the sort-based algorithms), panel (b) the absolute median time.
CPU lines are solid, CUDA lines dashed.

Column detection (the row dicts come from ``benchmarks/projection.py``): size = the first of
``n``, ``numel``, ``size``, ``elements``, ``n_params``; ratio = the first column whose name
contains ``ratio`` or starts with ``x_``/``vs_``; time = the first column whose name ends in
``_s``, ``_ms``, ``_us`` or ``seconds`` and does not mention the floor; labels = the remaining
string-valued columns except ``device``/``error``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from figures.style import FigureResult, new_figure, paper_style, save_figure

__all__ = ["load_bench_json", "plot_bench_scaling", "scaling_series"]

_SIZE_KEYS = ("n", "numel", "size", "elements", "n_params")


def load_bench_json(path: str | os.PathLike) -> dict[str, Any]:
    """Parse the benchmark JSON (``{device_kind: results}``); ``ValueError`` if malformed."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "sections" in v
                                             for v in data.values()):
        raise ValueError(f"{path}: expected {{device_kind: {{'sections': ...}}}} from qopt bench")
    return data


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _pick(rows: Sequence[dict], pred: Any) -> str | None:
    for r in rows:
        for k, v in r.items():
            if pred(k) and _num(v):
                return k
    return None


def scaling_series(rows: Sequence[dict[str, Any]]) -> tuple[str, str | None, str | None,
                                                             dict[str, tuple[np.ndarray, ...]]]:
    """(size key, ratio key, time key, {label: (n, ratio, time)}) from benchmark rows, sorted
    by n; ``ValueError`` if no size column exists."""
    rows = [r for r in rows if not r.get("error")]
    size = next((k for k in _SIZE_KEYS if any(_num(r.get(k)) for r in rows)), None)
    if size is None:
        raise ValueError(f"no size column ({', '.join(_SIZE_KEYS)}) in the benchmark rows")
    ratio = _pick(rows, lambda k: "ratio" in k or k.startswith(("x_", "vs_")))
    time_k = _pick(rows, lambda k: k.endswith(("_s", "_ms", "_us", "seconds")) and "floor" not in k
                   and "wall" not in k and "iqr" not in k)
    label_keys = [k for k in dict.fromkeys(k for r in rows for k in r)
                  if k not in ("device", "error") and k != size
                  and any(isinstance(r.get(k), str) for r in rows)]
    series: dict[str, list[tuple[float, float, float]]] = {}
    for r in rows:
        if not _num(r.get(size)):
            continue
        lab = " ".join(str(r.get(k)) for k in label_keys if r.get(k) is not None) or "all"
        series.setdefault(lab, []).append((float(r[size]),
                                           float(r[ratio]) if ratio and _num(r.get(ratio))
                                           else np.nan,
                                           float(r[time_k]) if time_k and _num(r.get(time_k))
                                           else np.nan))
    out = {}
    for lab, pts in series.items():
        arr = np.array(sorted(pts))
        out[lab] = (arr[:, 0], arr[:, 1], arr[:, 2])
    return size, ratio, time_k, out


def plot_bench_scaling(out_dir: str | os.PathLike, bench: dict[str, Any], *,
                       name: str = "bench_scaling") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Returns:
        :class:`FigureResult`; ``data[kind] = (size key, ratio key, time key, series)`` as
        returned by :func:`scaling_series`, one entry per device kind with projection rows.
    """
    data: dict = {}
    for kind, res in bench.items():
        rows = res.get("sections", {}).get("projection", {}).get("rows") or []
        if rows:
            try:
                data[kind] = scaling_series(rows)
            except ValueError:
                continue
    if not data:
        raise ValueError("the benchmark results hold no projection rows with a size column")
    with paper_style():
        fig, axes = new_figure(2, 1, width="page", aspect=0.7)
        ax_r, ax_t = axes[0, 0], axes[0, 1]
        styles = {"cpu": "-", "cuda": "--"}
        labels = sorted({lab for v in data.values() for lab in v[3]})
        for kind, (size, ratio, time_k, series) in data.items():
            ls = styles.get(kind, ":")
            for lab, (n, r, t) in series.items():
                c = f"C{labels.index(lab) % 8}"
                lbl = f"{lab} ({kind})"
                if ratio:
                    ax_r.plot(n, r, ls=ls, marker="o", color=c, label=lbl)
                if time_k:
                    ax_t.plot(n, t, ls=ls, marker="o", color=c, label=lbl)
            ax_r.set_ylabel(f"{ratio or 'ratio'} (time / floor)")
            ax_t.set_ylabel(f"{time_k or 'time'} (median)")
            for ax in (ax_r, ax_t):
                ax.set_xlabel(f"tensor size ({size})")
        ax_r.axhline(1.0, color="0.5", lw=0.6, ls=":")
        ax_r.set_title("(a) exact projection / floor")
        ax_t.set_title("(b) exact projection time")
        for ax in (ax_r, ax_t):
            ax.set_xscale("log")
            ax.set_yscale("log")
        handles, lbls = ax_r.get_legend_handles_labels()
        fig.legend(handles, lbls, loc="outside right center", fontsize=5.5)
        return save_figure(fig, out_dir, name, data)
