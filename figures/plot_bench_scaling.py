r"""Benchmark scaling: exact projection time relative to its floor, against tensor size.

Reads the JSON that ``qopt bench`` writes beside BENCHMARKS.md (``{device_kind: results}``,
see :mod:`benchmarks.suite`). For every device kind present and every projection (one line per
combination of the rows' label columns, e.g. set × granularity), panel (a) plots the ratio
time / floor against the number of elements n (log–log; 1 = as fast as the floor: one
elementwise pass, or a sort for the sort-based algorithms), panel (b) the absolute median time.
Colours follow the weight set's bit width (a sequential map, dark = fewest levels; sets are not
methods, so the method colours are not used), CPU lines are solid, CUDA lines dashed; labels are
display names (:mod:`figures.labels`), and the figure's header says on which machine, with which
torch, at which commit and when each device kind was measured
(:func:`figures.bench_data.machine_caption`).

Column detection (the row dicts come from ``benchmarks/projection.py``): size = the first of
``n``, ``numel``, ``size``, ``elements``, ``n_params``; ratio = the first column whose name
contains ``ratio`` or starts with ``x_``/``vs_``; time = the first column whose name ends in
``_s``, ``_ms``, ``_us`` or ``seconds`` and does not mention the floor; labels = the remaining
string-valued columns except ``device``/``error``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from figures.bench_data import load_bench_json, machine_caption
from figures.labels import device_label, set_label, set_sort_key
from figures.style import (
    FigureResult,
    log_axis_plain,
    new_figure,
    paper_style,
    save_figure,
    sequential_colors,
)

__all__ = ["load_bench_json", "plot_bench_scaling", "scaling_series", "series_parts"]

_SIZE_KEYS = ("n", "numel", "size", "elements", "n_params")
_FLOORS = {"np.abs": "floor: one pass", "np.sort": "floor: sort"}
_UNITS = {"_s": "s", "seconds": "s", "_ms": "ms", "_us": "µs"}


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
    label_keys = _label_keys(rows, size)
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


def _label_keys(rows: Sequence[dict[str, Any]], size: str) -> list[str]:
    return [k for k in dict.fromkeys(k for r in rows for k in r)
            if k not in ("device", "error") and k != size
            and any(isinstance(r.get(k), str) for r in rows)]


def series_parts(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """label of :func:`scaling_series` -> {label column: value} of its rows."""
    rows = [r for r in rows if not r.get("error")]
    size = next((k for k in _SIZE_KEYS if any(_num(r.get(k)) for r in rows)), "")
    keys = _label_keys(rows, size)
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        lab = " ".join(str(r.get(k)) for k in keys if r.get(k) is not None) or "all"
        out.setdefault(lab, {k: r.get(k) for k in keys if r.get(k) is not None})
    return out


def _display(parts: dict[str, Any], fallback: str) -> str:
    bits = []
    for k, v in parts.items():
        if k == "set":
            bits.insert(0, set_label(v))
        elif k == "floor":
            bits.append(_FLOORS.get(str(v), f"floor: {v}"))
        else:
            bits.append(f"{k} {v}")
    if not bits:
        return fallback
    return " · ".join([bits[0], ", ".join(bits[1:])]) if len(bits) > 1 else bits[0]


def _unit(key: str | None) -> str:
    for suffix, unit in _UNITS.items():
        if key and key.endswith(suffix):
            return unit
    return ""


def plot_bench_scaling(out_dir: str | os.PathLike, bench: dict[str, Any], *,
                       name: str = "bench_scaling") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Returns:
        :class:`FigureResult`; ``data[kind] = (size key, ratio key, time key, series)`` as
        returned by :func:`scaling_series`, one entry per device kind with projection rows, and
        ``data["labels"]`` = {series label: display label}.
    """
    data: dict = {}
    parts: dict[str, dict[str, Any]] = {}
    for kind, res in bench.items():
        rows = res.get("sections", {}).get("projection", {}).get("rows") or []
        if rows:
            try:
                data[kind] = scaling_series(rows)
            except ValueError:
                continue
            parts.update(series_parts(rows))
    if not data:
        raise ValueError("the benchmark results hold no projection rows with a size column")
    kinds = list(data)
    labels = sorted({lab for v in data.values() for lab in v[3]},
                    key=lambda lab: (set_sort_key(parts.get(lab, {}).get("set")), lab))
    display = {lab: _display(parts.get(lab, {}), lab) for lab in labels}
    colors = dict(zip(labels, sequential_colors(len(labels))))
    styles = {"cpu": "-", "cuda": "--"}
    with paper_style():
        fig, axes = new_figure(2, 1, width="page", aspect=0.7)
        ax_r, ax_t = axes[0, 0], axes[0, 1]
        for kind, (_, ratio, time_k, series) in data.items():
            ls = styles.get(kind, ":")
            for lab, (n, r, t) in series.items():
                kw = {"ls": ls, "marker": "o", "ms": 3, "color": colors[lab]}
                if ratio:
                    ax_r.plot(n, r, **kw)
                if time_k:
                    ax_t.plot(n, t, **kw)
        unit = _unit(data[kinds[0]][2])
        ax_r.set_ylabel("projection time / floor time")
        ax_t.set_ylabel(f"median time ({unit})" if unit else "median time")
        ax_r.axhline(1.0, color="0.5", lw=0.6, ls=":")
        ax_r.set_title("(a) exact projection relative to its floor")
        ax_t.set_title("(b) exact projection time")
        for ax in (ax_r, ax_t):
            ax.set_xlabel("tensor size n (elements)")
            log_axis_plain(ax, "x")
            log_axis_plain(ax, "y")
        handles = [Line2D([], [], color=colors[lab], marker="o", ms=3, label=display[lab])
                   for lab in labels]
        if len(kinds) > 1:
            handles += [Line2D([], [], color="0.3", ls=styles.get(k, ":"),
                               label=device_label(k)) for k in kinds]
        fig.legend(handles=handles, loc="outside right center", fontsize=6)
        fig.suptitle(machine_caption(bench, kinds, "projection"), fontsize=6, color="0.3")
        data["labels"] = display
        return save_figure(fig, out_dir, name, data)
