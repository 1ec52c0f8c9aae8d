r"""Benchmark: optimizer-step overhead of each quantized method vs the bare optimizer.

Reads the JSON that ``qopt bench`` writes (section ``optimizer_step``, rows from
``benchmarks/optimizer_step.py``: ``model``, ``variant``, ``impl``, ``ratio`` = step time / bare
base-optimizer step time, same run). One panel per model; one horizontal bar per variant
(qopt's BinaryConnect / BinaryRelax / BCGD per set, torchao's PARQ QuantOptimizer when it was
installed), log scale, the line at 1 = no overhead. Bars are coloured by implementation; with
results from several device kinds, each kind gets its own row of panels.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from matplotlib.patches import Patch

from figures.style import FigureResult, new_figure, paper_style, save_figure

__all__ = ["optimizer_overheads", "plot_bench_optimizer"]

_IMPL_COLORS = {"qopt": "#D55E00", "torchao": "#0072B2", "torch": "#000000"}


def optimizer_overheads(rows: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, float]]]:
    """model -> [(variant, impl, ratio)] for rows with a finite ratio, bare optimizer excluded."""
    out: dict[str, list[tuple[str, str, float]]] = {}
    for r in rows:
        ratio = r.get("ratio")
        if r.get("variant") == "bare" or not isinstance(ratio, (int, float)) \
                or not np.isfinite(ratio):
            continue
        out.setdefault(str(r.get("model", "model")), []).append(
            (str(r.get("variant")), str(r.get("impl", "")), float(ratio)))
    return out


def plot_bench_optimizer(out_dir: str | os.PathLike, bench: dict[str, Any], *,
                         name: str = "bench_optimizer_step") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Returns:
        :class:`FigureResult`; ``data[kind] = optimizer_overheads(rows)``.
    """
    data = {}
    for kind, res in bench.items():
        rows = res.get("sections", {}).get("optimizer_step", {}).get("rows") or []
        ov = optimizer_overheads(rows)
        if ov:
            data[kind] = ov
    if not data:
        raise ValueError("the benchmark results hold no optimizer_step rows with a ratio")
    models = sorted({m for ov in data.values() for m in ov})
    n_bars = max(len(v) for ov in data.values() for v in ov.values())
    with paper_style():
        fig, axes = new_figure(len(models), len(data), width="page",
                               aspect=0.045 * n_bars + 0.25)
        for i, (kind, ov) in enumerate(data.items()):
            for j, model in enumerate(models):
                ax = axes[i, j]
                bars = ov.get(model, [])
                y = np.arange(len(bars))
                ax.barh(y, [b[2] for b in bars], color=[_IMPL_COLORS.get(b[1], "0.5")
                                                         for b in bars], height=0.7)
                ax.set_yticks(y, [b[0] for b in bars], fontsize=5.5)
                ax.invert_yaxis()
                ax.set_xscale("log")
                ax.axvline(1.0, color="0.3", lw=0.7, ls=":")
                ax.set_xlabel("step time / bare optimizer step")
                ax.set_title(f"{model} ({kind})")
                ax.grid(axis="y", visible=False)
        impls = sorted({b[1] for ov in data.values() for v in ov.values() for b in v})
        handles = [Patch(color=_IMPL_COLORS.get(i, "0.5"), label=i) for i in impls]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
        return save_figure(fig, out_dir, name, data)
