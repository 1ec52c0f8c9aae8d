r"""Test accuracy and training loss against epoch, per method, over seeds.

Reads ``STUDY_DIR/curves.json`` (written by the study runner: run id -> grid ``keys`` and one
value per epoch of each metric). One column per weight set (grid key ``weights``), ordered by bit
width (binary, ternary, 2-bit, …; :func:`figures.labels.set_sort_key`) and titled with its
display name; at most four columns, further sets wrap to a new pair of rows. Top row: test
accuracy (evaluated on the exactly quantized weights, as the trainer logs it); bottom row:
training loss (full training set, same weights). One line per method, in the fixed method order
and colours of every figure (:mod:`figures.labels`, :mod:`figures.style`); runs without a weight
set (``float``) are drawn dashed in every column as the reference. Rows share their y axis.

Statistics over the seeds of a cell, pointwise per epoch (missing / NaN values skipped):

* accuracy (linear axis): the mean, band mean ± sample std (ddof = 1, as in results.csv);
* loss (log axis): the **geometric** mean :math:`\exp(\overline{\log L})`, band
  :math:`\exp(\overline{\log L} \pm s_{\log L})` (the sample std of log L), i.e. ×/÷ the
  geometric standard deviation. A linear mean ± std band reaches below zero whenever the spread
  exceeds the mean — common for losses near 0 — and a log axis can only draw that as a block
  down to its floor; the log-space band is the same statistic on the scale the axis shows and
  never leaves it. Non-positive losses (impossible for cross-entropy) are skipped there.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from figures.labels import (
    grid_value_label,
    method_label,
    method_sort_key,
    set_label,
    set_sort_key,
)
from figures.study_data import group_runs, load_curves, mean_std_curves
from figures.style import (
    FigureResult,
    color_for,
    log_axis_plain,
    new_figure,
    paper_style,
    save_figure,
)

__all__ = ["curve_stats", "plot_study_curves"]

#: (metric, y label, scale, statistic)
_METRICS = (("test_acc", "test accuracy (%)", 100.0, "arithmetic"),
            ("train_loss", "training loss", 1.0, "geometric"))
_MAX_COLS = 4


def curve_stats(curves: list[list[Any]], stat: str, scale: float = 1.0) -> dict[str, Any]:
    """Pointwise statistics over seeds: ``{"epoch", "center", "lo", "hi", "n", "stat"}``.

    ``stat="arithmetic"``: center = mean, [lo, hi] = mean ∓ sample std. ``stat="geometric"``:
    center = exp(mean log), [lo, hi] = exp(mean log ∓ std log), non-positive values skipped.
    Values are multiplied by ``scale`` (e.g. 100 for percent) before the statistics.
    """
    if stat not in ("arithmetic", "geometric"):
        raise ValueError(f"stat must be 'arithmetic' or 'geometric', got {stat!r}")
    if stat == "arithmetic":
        mean, std, cnt = mean_std_curves([[_scaled(x, scale) for x in c] for c in curves])
        center, lo, hi = mean, mean - std, mean + std
    else:
        logs = [[_log(_scaled(x, scale)) for x in c] for c in curves]
        m, s, cnt = mean_std_curves(logs)
        center, lo, hi = np.exp(m), np.exp(m - s), np.exp(m + s)
    return {"epoch": np.arange(1, center.size + 1), "center": center, "lo": lo, "hi": hi,
            "n": cnt, "stat": stat}


def _scaled(x: Any, scale: float) -> float:
    try:
        return float(x) * scale
    except (TypeError, ValueError):
        return math.nan


def _log(x: float) -> float:
    return math.log(x) if (math.isfinite(x) and x > 0) else math.nan


def _split(cell: tuple) -> tuple[str, str, str]:
    """(weights, method, extra grid values in words) of a cell."""
    d = dict(cell)
    weights = d.pop("weights", "none")
    method = d.pop("method", "run")
    extra = ", ".join(grid_value_label(k, v) for k, v in d.items())
    return weights, method, extra


def plot_study_curves(out_dir: str | os.PathLike, study_dir: str | os.PathLike, *,
                      name: str = "study_curves") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Returns:
        :class:`FigureResult`; ``data[(weights, method)][metric]`` = :func:`curve_stats` of the
        cell's seeds (``method`` carries extra grid values as ``"method (k=v)"``), and
        ``data["panels"]`` = the weight sets in panel order.
    """
    curves = load_curves(study_dir)
    if not curves:
        raise ValueError(f"curves.json in {str(study_dir)!r} lists no runs")
    data: dict = {}
    labels: dict[tuple[str, str], str] = {}
    for cell, rids in group_runs(curves).items():
        weights, method, extra = _split(cell)
        key = (weights, method + (f" ({extra})" if extra else ""))
        data[key] = {metric: curve_stats([curves[r].get(metric) or [] for r in rids], stat,
                                         scale) for metric, _, scale, stat in _METRICS}
        labels[key] = method_label(method) + (f" ({extra})" if extra else "")
    panels = sorted({w for w, _ in data if w != "none"}, key=set_sort_key) or ["none"]
    methods = sorted(dict.fromkeys(m for _, m in data),
                     key=lambda m: (method_sort_key(m.split(" ")[0]), m))
    ns = {int(np.max(d["test_acc"]["n"])) for d in data.values() if d["test_acc"]["n"].size}
    one_n = len(ns) == 1

    ncols = min(_MAX_COLS, len(panels))
    blocks = math.ceil(len(panels) / ncols)
    with paper_style():
        fig, axes = new_figure(ncols, 2 * blocks, width="page" if ncols > 2 else "column",
                               aspect=0.8 if ncols > 2 else 1.0, sharex=True)
        first = {metric: axes[row, 0] for row, (metric, *_) in enumerate(_METRICS)}
        for p, wset in enumerate(panels):
            b, col = divmod(p, ncols)
            for row, (metric, ylabel, _, _) in enumerate(_METRICS):
                ax = axes[2 * b + row, col]
                if ax is not first[metric]:
                    ax.sharey(first[metric])
                seen_variant: dict[str, int] = {}
                for i, meth in enumerate(methods):
                    key = (wset, meth) if (wset, meth) in data else ("none", meth)
                    if key not in data:
                        continue
                    d = data[key][metric]
                    base = meth.split(" ")[0]
                    v = seen_variant.setdefault(base, 0)
                    seen_variant[base] += 1
                    c = color_for(base, i)
                    ls = "--" if key[0] == "none" and wset != "none" else \
                        ("-", "-.", ":")[v % 3]
                    n = int(np.max(d["n"])) if d["n"].size else 0
                    lab = labels[key] if one_n else f"{labels[key]} (n = {n})"
                    ax.plot(d["epoch"], d["center"], color=c, ls=ls, label=lab)
                    ok = np.isfinite(d["lo"]) & np.isfinite(d["hi"])
                    ax.fill_between(d["epoch"], d["lo"], d["hi"], where=ok, color=c,
                                    alpha=0.15, lw=0)
                if metric == "train_loss":
                    log_axis_plain(ax)
                if metric == _METRICS[-1][0]:
                    ax.set_xlabel("epoch")
                ax.tick_params(labelbottom=metric == _METRICS[-1][0])
                if col == 0:
                    ax.set_ylabel(ylabel)
                else:
                    ax.tick_params(labelleft=False)
            axes[2 * b, col].set_title(set_label(wset))
        for p in range(len(panels), blocks * ncols):
            b, col = divmod(p, ncols)
            axes[2 * b, col].set_visible(False)
            axes[2 * b + 1, col].set_visible(False)
        handles, labs = axes[0, 0].get_legend_handles_labels()
        title = (f"mean ± std over {ns.pop()} seeds (loss: geometric mean ×/÷ geometric std)"
                 if one_n else "mean ± std over n seeds (loss: geometric)")
        fig.legend(handles, labs, loc="outside lower center",
                   ncol=min(len(labs), 7 if ncols > 2 else 3),
                   title=title, title_fontsize=6.5)
        data["panels"] = panels
        return save_figure(fig, out_dir, name, data)
