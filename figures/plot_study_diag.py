r"""BinaryRelax's λ continuation and the fraction of weights that changed code, from a study.

Reads the ``"type": "diag"`` records of every run (``runs/<id>/metrics.jsonl``; keys in
``docs/formats.md#diag-records``):

* panel (a): λ against step for the BinaryRelax runs (global key ``lam``; log scale), in
  BinaryRelax's colour, one line style per weight set; steps where ``phase`` = 2 (exact
  quantization) are shaded. For a geometric schedule λ_k = λ₀ g^k (Yin et al. 2018, §4; the
  released code's ×1.04 per epoch) the line is straight on the log scale.
* one panel per weight set, ordered by bit width and titled with its display name
  (:mod:`figures.labels`): the code-flip fraction against step — for each record the unweighted
  mean over quantized tensors of ``NAME/flip_frac`` (the fraction of that tensor's codes changed
  since the previous record; the diag records carry no tensor sizes, so the mean is per tensor),
  then the mean over seeds (line) and the range over seeds, min to max (band), one line per
  method in the method colours of every figure. The band is the range rather than mean ± std:
  with a few seeds and fractions spanning decades, mean − std falls below 0 — on this axis a
  spike down to the floor that no seed ever showed — while every seed's value lies in the
  range. The flip panels share a symmetric-log y axis: linear from 0 up to
  the decade below the smallest positive value shown, logarithmic above, so that the exact
  zeros of phase II sit on a labelled 0 and small fractions stay visible.

Panels fill a grid of at most three columns; a free cell holds the legend.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np

from figures.labels import method_label, method_sort_key, set_label, set_sort_key
from figures.study_data import group_runs, load_diag, mean_std_curves
from figures.style import (
    FigureResult,
    color_for,
    log_axis_plain,
    new_figure,
    paper_style,
    save_figure,
    set_linestyle,
)

__all__ = ["flip_fraction", "plot_study_diag"]


def flip_fraction(record: dict[str, Any]) -> float:
    """Unweighted mean over tensors of ``NAME/flip_frac`` in one diag record (NaN if none)."""
    vals = [v for k, v in record.items()
            if k.endswith("/flip_frac") and isinstance(v, (int, float)) and np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _aligned(runs: list[list[dict]], fn: Any) -> tuple[np.ndarray, ...]:
    """(steps, mean, std, min, max) over runs of ``fn(record)`` aligned by step."""
    steps = np.array(sorted({int(r["step"]) for recs in runs for r in recs}))
    index = {s: i for i, s in enumerate(steps)}
    rows = []
    for recs in runs:
        row: list[Any] = [None] * steps.size
        for r in recs:
            row[index[int(r["step"])]] = fn(r)
        rows.append(row)
    mean, std, _ = mean_std_curves(rows)
    arr = np.array([[np.nan if v is None else float(v) for v in row] for row in rows])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as wanted
        lo, hi = np.nanmin(arr, axis=0), np.nanmax(arr, axis=0)
    return steps, mean, std, lo, hi


def plot_study_diag(out_dir: str | os.PathLike, study_dir: str | os.PathLike, *,
                    name: str = "study_diag") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Returns:
        :class:`FigureResult`; ``data["lam"][weights] = (steps, mean λ, phase2 mask)``,
        ``data["flip"][(weights, method)] = (steps, mean, std, n_seeds)``,
        ``data["flip_range"][(weights, method)] = (min, max)`` over seeds, ``data["panels"]``
        = the weight sets of the flip panels, in order.
    """
    runs = load_diag(study_dir)
    if not runs:
        raise ValueError(f"no diag records in any run of {str(study_dir)!r} (only float runs?)")
    lam: dict = {}
    flip: dict = {}
    flip_range: dict = {}
    for cell, rids in group_runs(runs).items():
        d = dict(cell)
        wset, meth = d.get("weights", "none"), d.get("method", "run")
        recs = [runs[r]["records"] for r in rids]
        if any(isinstance(r.get("lam"), (int, float)) for rr in recs for r in rr):
            steps, mu, *_ = _aligned(recs, lambda r: r.get("lam"))
            _, ph, *_ = _aligned(recs, lambda r: r.get("phase"))
            lam[wset] = (steps, mu, ph >= 2)
        steps, mu, sd, lo, hi = _aligned(recs, flip_fraction)
        if np.isfinite(mu).any():
            flip[(wset, meth)] = (steps, mu, sd, len(rids))
            flip_range[(wset, meth)] = (lo, hi)
    panels = sorted({w for w, _ in flip}, key=set_sort_key)
    data = {"lam": lam, "flip": flip, "flip_range": flip_range, "panels": panels}
    set_style = {w: set_linestyle(i) for i, w in enumerate(
        sorted(set(panels) | set(lam), key=set_sort_key))}

    n_panels = 1 + max(1, len(panels))
    ncols = min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    with paper_style():
        fig, axes = new_figure(ncols, nrows, width="page" if ncols > 1 else "column",
                               aspect=0.8)
        cells = [axes[r, c] for r in range(nrows) for c in range(ncols)]
        ax = cells[0]
        curves = sorted(lam.items(), key=lambda kv: set_sort_key(kv[0]))
        same = len(curves) > 1 and all(
            c[1][0].shape == curves[0][1][0].shape and np.allclose(c[1][0], curves[0][1][0])
            and np.allclose(c[1][1], curves[0][1][1], equal_nan=True) for c in curves[1:])
        if same:  # one schedule for every set (the usual case): one line, not a stack of four
            curves = [("all weight sets", curves[0][1])]
        for wset, (steps, mu, ph2) in curves:
            ax.plot(steps, mu, color=color_for("binaryrelax"),
                    ls=set_style.get(wset, "-"), label=set_label(wset) if not same else wset)
            if ph2.any():
                k = int(np.argmax(ph2))
                start = steps[k] if k == 0 else 0.5 * (steps[k - 1] + steps[k])
                ax.axvspan(start, steps[-1], color="0.9", lw=0, zorder=0)
        if lam:
            log_axis_plain(ax)
            # λ grows left to right: the upper left corner is free
            ax.legend(loc="upper left", title="BinaryRelax" if same else "BinaryRelax, weights",
                      title_fontsize=6.5)
        else:
            ax.text(0.5, 0.5, "no BinaryRelax runs", transform=ax.transAxes, ha="center")
        ax.set_xlabel("step")
        ax.set_ylabel(r"$\lambda$ (shaded: phase II)")
        ax.set_title(r"(a) $\lambda$ continuation")
        flip_axes = cells[1:1 + max(1, len(panels))]
        positive = [v for (lo, hi) in flip_range.values() for v in np.concatenate([lo, hi])
                    if np.isfinite(v) and v > 0]
        linthresh = 10.0 ** math.floor(math.log10(min(positive))) if positive else 1e-4
        linthresh = min(max(linthresh, 1e-6), 1e-2)
        top = 1.3 * max(positive) if positive else 1.0
        for j, wset in enumerate(panels or ["none"]):
            axf = flip_axes[j]
            if j:
                axf.sharey(flip_axes[0])
            for i, meth in enumerate(sorted({m for w, m in flip if w == wset},
                                            key=method_sort_key)):
                steps, mu, sd, n = flip[(wset, meth)]
                lo, hi = flip_range[(wset, meth)]
                c = color_for(meth, i)
                axf.plot(steps, mu, color=c, label=f"{method_label(meth)} (n = {n})")
                ok = np.isfinite(lo) & np.isfinite(hi)
                axf.fill_between(steps, lo, hi, where=ok, color=c, alpha=0.15, lw=0)
            axf.set_yscale("symlog", linthresh=linthresh)
            axf.set_xlabel("step")
            axf.set_title(f"({chr(98 + j)}) {set_label(wset)}")
            if j == 0 or (1 + j) % ncols == 0:
                axf.set_ylabel("fraction of codes\nchanged per record")
        flip_axes[0].set_ylim(0, top)  # shared: once, after every panel has its data
        handles, labels = [], []
        for a in flip_axes:
            for h, lab in zip(*a.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        order = sorted(range(len(labels)), key=lambda k: method_sort_key(labels[k].split()[0]))
        handles, labels = [handles[k] for k in order], [labels[k] for k in order]
        spare = cells[1 + len(flip_axes):]
        for a in spare:
            a.set_axis_off()
        if handles and spare:
            spare[0].legend(handles, labels, loc="center", title="method (seeds)",
                            title_fontsize=6.5)
        elif handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=min(6, len(labels)))
        return save_figure(fig, out_dir, name, data)
