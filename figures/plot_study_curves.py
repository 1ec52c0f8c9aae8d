r"""Test accuracy and training loss against epoch, per method, over seeds.

Reads ``STUDY_DIR/curves.json`` (written by the study runner: run id -> grid ``keys`` and one
value per epoch of each metric). One column per weight set (grid key ``weights``), ordered by bit
width (binary, ternary, 2-bit, …; :func:`figures.labels.set_sort_key`) and titled with its
display name; at most four columns, further sets wrap to a new pair of rows. Top row: test
accuracy (evaluated on the exactly quantized weights, as the trainer logs it); bottom row:
training loss (full training set, same weights). One line per method, in the fixed method order
and colours of every figure (:mod:`figures.labels`, :mod:`figures.style`); runs without a weight
set (``float``, black) are drawn in every column as the reference. Every grid key that differs
between cells (besides the weight set and the method: ``lr``, ``ste``, ...) is named in the
legend label and takes its own line style (then markers), the same in every column, so two
cells never share a label or a look. Rows share their y axis.

The per-epoch curves are the trainer's end-of-epoch evaluations with the *running* BatchNorm
statistics, while the results table's final accuracy re-estimates them at the final quantized
weights (``bn_recalib_batches``); where the study has quantized runs that did, the legend says
so: the last point of a curve need not equal the table's value.

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
from matplotlib.ticker import MaxNLocator

from figures.labels import (
    method_label,
    method_sort_key,
    set_label,
    set_sort_key,
)
from figures.study_data import (
    bn_recalibrated,
    cell_extra,
    group_runs,
    load_curves,
    mean_std_curves,
    varying_keys,
)
from figures.style import (
    COLUMN_WIDTH,
    PAGE_WIDTH,
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
#: line styles, then markers, of the variants of a method (cells differing in a grid key other
#: than the weight set and the method), in sorted order of their values
_LINESTYLES: tuple[Any, ...] = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v")


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


def legend_columns(labels: list[str], width_in: float, fontsize: float = 6.5) -> int:
    """How many legend columns of ``labels`` fit across ``width_in`` inches: a text column is
    about 0.55 em per character plus the handle and padding (≈ 3.4 em)."""
    longest = max((len(t) for t in labels), default=1)
    col_pt = fontsize * (0.55 * longest + 3.4)
    return max(1, min(len(labels), int(width_in * 72 // col_pt)))


def _split(cell: tuple, extra_keys: list[str]) -> tuple[str, str, tuple, str]:
    """(weights, method, extra values, extra in words) of a cell; the extra values are those
    of ``extra_keys`` (the keys that differ between cells, besides weights and method)."""
    d = dict(cell)
    weights = d.get("weights", "none")
    method = d.get("method", "run")
    values = tuple((k, d.get(k)) for k in extra_keys)
    return weights, method, values, cell_extra(cell, extra_keys)


def plot_study_curves(out_dir: str | os.PathLike, study_dir: str | os.PathLike, *,
                      name: str = "study_curves") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    One series per cell (the study's grid values except the seed): the panel is its weight set,
    the colour its method, and every other grid key whose value differs between cells (``lr``,
    ``ste``, ...) is named in the label and takes a line style of its own (the same value, the
    same style, in every panel), so no two series look alike. Only the study's current runs
    (``curves.json``) are read.

    Returns:
        :class:`FigureResult`; ``data[(weights, method)][metric]`` = :func:`curve_stats` of the
        cell's seeds (``method`` carries the differing grid values as ``"method (lr 0.1)"``),
        ``data["panels"]`` = the weight sets in panel order, ``data["labels"][(weights,
        method)]`` = the legend label of the cell, ``data["runs"][(weights, method)]`` = its
        run ids, ``data["bn_note"]`` = whether the BatchNorm note is shown.
    """
    curves = load_curves(study_dir)
    if not curves:
        raise ValueError(f"curves.json in {str(study_dir)!r} lists no runs")
    groups = group_runs(curves)
    extra_keys = [k for k in varying_keys(groups) if k not in ("weights", "method")]
    variants = sorted({_split(c, extra_keys)[2] for c in groups}, key=repr)
    data: dict = {}
    labels: dict[tuple[str, str], str] = {}
    style: dict[tuple[str, str], tuple[str, Any, Any]] = {}
    run_ids: dict[tuple[str, str], list[str]] = {}
    for cell, rids in groups.items():
        weights, method, values, extra = _split(cell, extra_keys)
        key = (weights, method + (f" ({extra})" if extra else ""))
        data[key] = {metric: curve_stats([curves[r].get(metric) or [] for r in rids], stat,
                                         scale) for metric, _, scale, stat in _METRICS}
        labels[key] = method_label(method) + (f" ({extra})" if extra else "")
        v = variants.index(values)
        style[key] = (method, _LINESTYLES[v % len(_LINESTYLES)],
                      None if v < len(_LINESTYLES) else _MARKERS[(v // len(_LINESTYLES) - 1)
                                                                 % len(_MARKERS)])
        run_ids[key] = list(rids)
    panels = sorted({w for w, _ in data if w != "none"}, key=set_sort_key) or ["none"]
    methods = sorted(dict.fromkeys(m for _, m in data),
                     key=lambda m: (method_sort_key(m.split(" ")[0]), m))
    ns = {int(np.max(d["test_acc"]["n"])) for d in data.values() if d["test_acc"]["n"].size}
    one_n = len(ns) == 1
    bn_note = any(w != "none" for w, _ in data) and bn_recalibrated(study_dir, curves)

    ncols = min(_MAX_COLS, len(panels))
    blocks = math.ceil(len(panels) / ncols)
    width = "page" if ncols > 2 else "column"
    with paper_style():
        fig, axes = new_figure(ncols, 2 * blocks, width=width,
                               aspect=0.8 if ncols > 2 else 1.0, sharex=True)
        first = {metric: axes[row, 0] for row, (metric, *_) in enumerate(_METRICS)}
        lab_meth: dict[str, str] = {}
        for p, wset in enumerate(panels):
            b, col = divmod(p, ncols)
            for row, (metric, ylabel, _, _) in enumerate(_METRICS):
                ax = axes[2 * b + row, col]
                if ax is not first[metric]:
                    ax.sharey(first[metric])
                for i, meth in enumerate(methods):
                    key = (wset, meth) if (wset, meth) in data else ("none", meth)
                    if key not in data:
                        continue
                    d = data[key][metric]
                    base, ls, marker = style[key]
                    c = color_for(base, i)
                    n = int(np.max(d["n"])) if d["n"].size else 0
                    lab = labels[key] if one_n else f"{labels[key]} (n = {n})"
                    lab_meth[lab] = meth
                    ax.plot(d["epoch"], d["center"], color=c, ls=ls, label=lab,
                            marker=marker, ms=3, mfc="white", mew=0.6)
                    ok = np.isfinite(d["lo"]) & np.isfinite(d["hi"])
                    ax.fill_between(d["epoch"], d["lo"], d["hi"], where=ok, color=c,
                                    alpha=0.15, lw=0)
                if metric == "train_loss":
                    log_axis_plain(ax)
                if metric == _METRICS[-1][0]:
                    ax.set_xlabel("epoch")
                    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
        handles, labs = [], []
        for ax in fig.axes:  # every series once, also one that only some panels show
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labs:
                    handles.append(h)
                    labs.append(lab)
        order = sorted(range(len(labs)), key=lambda k: methods.index(lab_meth[labs[k]]))
        handles, labs = [handles[k] for k in order], [labs[k] for k in order]
        title = (f"mean ± std over {ns.pop()} seeds (loss: geometric mean ×/÷ geometric std)"
                 if one_n else "mean ± std over n seeds (loss: geometric)")
        if bn_note:
            title += ("\nper-epoch values: running BN statistics; results table: "
                      "BN re-estimated")
        w_in = PAGE_WIDTH if width == "page" else COLUMN_WIDTH
        fig.legend(handles, labs, loc="outside lower center",
                   ncol=legend_columns(labs, w_in), title=title, title_fontsize=6.5)
        data["panels"] = panels
        data["labels"] = labels
        data["runs"] = run_ids
        data["bn_note"] = bn_note
        return save_figure(fig, out_dir, name, data)
