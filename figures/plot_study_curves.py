r"""Test accuracy and training loss against epoch, per method, mean ± std over seeds.

Reads ``STUDY_DIR/curves.json`` (written by the study runner; API.md "Study directory"). One
column per weight set (grid key ``weights``), top row test accuracy (evaluated on the exactly
quantized weights, as the trainer logs it), bottom row training loss (full training set, same
weights). One line per method: the pointwise mean over seeds, the band mean ± sample std
(ddof = 1, as in results.csv). Runs without a weight set (``float``) are drawn in every column
as the reference.
"""

from __future__ import annotations

import os

import numpy as np

from figures.study_data import group_runs, load_curves, mean_std_curves
from figures.style import (
    FigureResult,
    color_for,
    log_axis_plain,
    new_figure,
    paper_style,
    save_figure,
)

__all__ = ["plot_study_curves"]

_METRICS = (("test_acc", "test accuracy (%)", 100.0), ("train_loss", "training loss", 1.0))


def _split(cell: tuple) -> tuple[str, str]:
    d = dict(cell)
    weights = d.pop("weights", "none")
    method = d.pop("method", "run")
    extra = ",".join(f"{k}={v}" for k, v in d.items())
    return weights, method + (f" ({extra})" if extra else "")


def plot_study_curves(out_dir: str | os.PathLike, study_dir: str | os.PathLike, *,
                      name: str = "study_curves") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Returns:
        :class:`FigureResult`; ``data[(weights, method)][metric] = (epochs, mean, std, n)``.
    """
    curves = load_curves(study_dir)
    if not curves:
        raise ValueError(f"curves.json in {str(study_dir)!r} lists no runs")
    groups = group_runs(curves)
    data: dict = {}
    for cell, rids in groups.items():
        key = _split(cell)
        entry = {}
        for metric, _, scale in _METRICS:
            mean, std, cnt = mean_std_curves([curves[r].get(metric) or [] for r in rids])
            epochs = np.arange(1, mean.size + 1)
            entry[metric] = (epochs, scale * mean, scale * std, cnt)
        data[key] = entry
    panels = sorted({w for w, _ in data if w != "none"}) or ["none"]
    methods = list(dict.fromkeys(m for _, m in sorted(data, key=lambda k: k[1])))

    with paper_style():
        fig, axes = new_figure(len(panels), 2, width="page" if len(panels) > 2 else "column",
                               aspect=0.8, sharex=True)
        for col, wset in enumerate(panels):
            for row, (metric, ylabel, _) in enumerate(_METRICS):
                ax = axes[row, col]
                for i, meth in enumerate(methods):
                    key = (wset, meth) if (wset, meth) in data else ("none", meth)
                    if key not in data:
                        continue
                    ep, mu, sd, cnt = data[key][metric]
                    c = color_for(meth.split(" ")[0], i)
                    ls = "--" if key[0] == "none" and wset != "none" else "-"
                    nmax = int(cnt.max()) if cnt.size else 0
                    ax.plot(ep, mu, color=c, ls=ls, label=f"{meth} (n={nmax})")
                    ax.fill_between(ep, mu - sd, mu + sd, color=c, alpha=0.2, lw=0)
                if metric == "train_loss":
                    log_axis_plain(ax)
                    ax.set_xlabel("epoch")
                if col == 0:
                    ax.set_ylabel(ylabel)
            axes[0, col].set_title(f"weights: {wset}")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)))
        return save_figure(fig, out_dir, name, data)

