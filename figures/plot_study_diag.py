r"""The λ continuation of every method that logs one, and the fraction of weights that changed
code, from a study.

Reads the ``"type": "diag"`` records of the study's current runs (those of ``curves.json``,
:mod:`figures.study_data`; ``runs/<id>/metrics.jsonl``; keys in
``docs/formats.md#diag-records``). A *cell* is one combination of the study's grid values
except the seed; every figure element below is per cell, never per weight set or per method
alone, so cells that differ in any grid key (``lr``, ``ste``, the method, the weight set) are
never merged nor drawn over one another:

* panel (a): λ against step (global key ``lam``: BinaryRelax's relaxation weight, ProxQuant's
  regulariser weight) for every cell that logs it, the mean over its seeds; colour = method,
  line style = the cell's other grid values (weight set and any other differing key, named in
  the legend). A log axis when every λ is positive; with exact zeros (ProxQuant's schedule may
  start at λ = 0) a symmetric-log axis, linear below the decade under the smallest positive λ,
  so the zeros sit on a labelled 0 instead of vanishing. Where all cells of a method share one
  schedule (λ does not depend on the weight set) they are drawn as one line "METHOD (all k
  cells)". Steps where ``phase`` = 2 (exact quantization) are shaded when every cell enters it
  at the same step; otherwise a dotted vertical line in the cell's colour marks its start. For
  a geometric schedule λ_k = λ₀ g^k (Yin et al. 2018, §4; the released code's ×1.04 per epoch)
  the line is straight on the log scale.
* one panel per weight set, ordered by bit width and titled with its display name
  (:mod:`figures.labels`): the code-flip fraction against step — for each record the unweighted
  mean over quantized tensors of ``NAME/flip_frac`` (the fraction of that tensor's codes changed
  since the previous record; the diag records carry no tensor sizes, so the mean is per tensor),
  then the mean over seeds (line) and the range over seeds, min to max (band), one line per
  cell: colour = method, line style = the cell's other differing grid values. The band is the
  range rather than mean ± std: with a few seeds and fractions spanning decades, mean − std
  falls below 0 — on this axis a spike down to the floor that no seed ever showed — while every
  seed's value lies in the range. The flip panels share a symmetric-log y axis: linear from 0
  up to the decade below the smallest positive value shown, logarithmic above, so that the
  exact zeros of phase II sit on a labelled 0 and small fractions stay visible.

Panels fill a grid of at most three columns; a free cell holds the legend.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np

from figures.labels import method_label, method_sort_key, set_label, set_sort_key
from figures.study_data import cell_extra, group_runs, load_diag, mean_std_curves, varying_keys
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


_LINESTYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 2)))


def _symlog_threshold(values: list[float]) -> float:
    positive = [v for v in values if np.isfinite(v) and v > 0]
    t = 10.0 ** math.floor(math.log10(min(positive))) if positive else 1e-4
    return t


def plot_study_diag(out_dir: str | os.PathLike, study_dir: str | os.PathLike, *,
                    name: str = "study_diag") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Returns:
        :class:`FigureResult`; a cell is named ``(weights, method)`` where ``method`` carries
        the cell's other differing grid values (``"binaryrelax (lr 0.1)"``), as in
        :func:`figures.plot_study_curves.plot_study_curves`.
        ``data["lam"][cell] = (steps, mean λ over seeds, phase2 mask)`` for every cell that
        logs λ; ``data["lam_lines"]`` = the λ lines drawn, ``{label: [cells]}`` (one cell each,
        or all cells of one method when they share the schedule);
        ``data["flip"][cell] = (steps, mean, std, n_seeds)``,
        ``data["flip_range"][cell] = (min, max)`` over seeds, ``data["panels"]`` = the weight
        sets of the flip panels, in order; ``data["labels"][cell]`` = the cell's legend label;
        ``data["runs"][cell]`` = its run ids.
    """
    runs = load_diag(study_dir)
    if not runs:
        raise ValueError(f"no diag records in any run of {str(study_dir)!r} (only float runs?)")
    groups = group_runs(runs)
    extra_keys = [k for k in varying_keys(groups) if k not in ("weights", "method")]
    lam: dict = {}
    flip: dict = {}
    flip_range: dict = {}
    labels: dict = {}
    run_ids: dict = {}
    variant_of: dict = {}
    for cell, rids in groups.items():
        d = dict(cell)
        wset, meth = d.get("weights", "none"), d.get("method", "run")
        extra = cell_extra(cell, extra_keys)
        key = (wset, meth + (f" ({extra})" if extra else ""))
        labels[key] = method_label(meth) + (f" ({extra})" if extra else "")
        run_ids[key] = list(rids)
        variant_of[key] = tuple((k, d.get(k)) for k in extra_keys)
        recs = [runs[r]["records"] for r in rids]
        if any(isinstance(r.get("lam"), (int, float)) for rr in recs for r in rr):
            steps, mu, *_ = _aligned(recs, lambda r: r.get("lam"))
            _, ph, *_ = _aligned(recs, lambda r: r.get("phase"))
            lam[key] = (steps, mu, ph >= 2)
        steps, mu, sd, lo, hi = _aligned(recs, flip_fraction)
        if np.isfinite(mu).any():
            flip[key] = (steps, mu, sd, len(rids))
            flip_range[key] = (lo, hi)
    panels = sorted({w for w, _ in flip}, key=set_sort_key)
    # line style of a flip line: its other grid values; of a λ line: weight set + those
    variants = sorted(set(variant_of.values()), key=repr)
    flip_style = {k: _LINESTYLES[variants.index(v) % len(_LINESTYLES)]
                  for k, v in variant_of.items()}
    lam_variants = sorted({(k[0], variant_of[k]) for k in lam},
                          key=lambda wv: (set_sort_key(wv[0]), repr(wv[1])))
    lam_style = {k: _LINESTYLES[lam_variants.index((k[0], variant_of[k])) % len(_LINESTYLES)]
                 for k in lam}
    lam_lines = _lam_lines(lam, labels)
    data = {"lam": lam, "lam_lines": lam_lines, "flip": flip, "flip_range": flip_range,
            "panels": panels, "labels": labels, "runs": run_ids}

    def meth_of(key: tuple) -> str:
        return key[1].split(" (")[0]

    n_panels = 1 + max(1, len(panels))
    ncols = min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    # legends outside the panels take height of their own (about 0.15 in per row): add it, so
    # the panels keep their aspect however many cells the study has
    spare_cells = ncols * nrows - n_panels
    n_flip_labels = len({labels[k] for k in flip})
    legend_rows = (math.ceil(len(lam_lines) / 4) + 1 if len(lam_lines) > 3 else 0) + \
        (0 if spare_cells else math.ceil(n_flip_labels / (3 if ncols > 1 else 2)))
    width_in = PAGE_WIDTH if ncols > 1 else COLUMN_WIDTH
    panel_h = width_in / ncols * 0.8
    aspect = (panel_h * nrows + 0.15 * legend_rows) / (width_in / ncols * nrows)
    with paper_style():
        fig, axes = new_figure(ncols, nrows, width="page" if ncols > 1 else "column",
                               aspect=aspect)
        cells = [axes[r, c] for r in range(nrows) for c in range(ncols)]
        ax = cells[0]
        all_lam = [v for (_, mu, _) in lam.values() for v in mu]
        starts = {}
        for label, keys in lam_lines.items():
            k0 = keys[0]
            steps, mu, ph2 = lam[k0]
            c = color_for(meth_of(k0))
            ax.plot(steps, mu, color=c, ls=lam_style[k0] if len(keys) == 1 else "-",
                    label=label)
            if ph2.any():
                k = int(np.argmax(ph2))
                starts[label] = (steps[k] if k == 0 else 0.5 * (steps[k - 1] + steps[k]),
                                 steps[-1], c)
        if len({round(float(s0), 9) for s0, _, _ in starts.values()}) == 1:
            s0, s1, _ = next(iter(starts.values()))
            ax.axvspan(s0, max(e for _, e, _ in starts.values()), color="0.9", lw=0,
                       zorder=0)
            ylab = r"$\lambda$ (shaded: phase II)"
        else:
            for s0, _, c in starts.values():
                ax.axvline(s0, color=c, lw=0.7, ls=":")
            ylab = r"$\lambda$ (dotted: phase II starts)" if starts else r"$\lambda$"
        if lam:
            if all(not np.isfinite(v) or v > 0 for v in all_lam):
                log_axis_plain(ax)
            else:
                ax.set_yscale("symlog", linthresh=_symlog_threshold(all_lam))
            if len(lam_lines) <= 3:
                ax.legend(loc="best", fontsize=6)
            else:  # too many for the panel: above the figure, in columns
                h, lb = ax.get_legend_handles_labels()
                fig.legend(h, lb, loc="outside upper center", ncol=min(4, len(lb)),
                           title=r"(a) $\lambda$ per cell", title_fontsize=6.5, fontsize=6)
        else:
            ax.text(0.5, 0.5, "no run logs λ", transform=ax.transAxes, ha="center")
            ylab = r"$\lambda$"
        ax.set_xlabel("step")
        ax.set_ylabel(ylab)
        ax.set_title(r"(a) $\lambda$ continuation")
        flip_axes = cells[1:1 + max(1, len(panels))]
        positive = [v for (lo, hi) in flip_range.values() for v in np.concatenate([lo, hi])
                    if np.isfinite(v) and v > 0]
        linthresh = min(max(_symlog_threshold(positive), 1e-6), 1e-2)
        top = 1.3 * max(positive) if positive else 1.0
        order = sorted(flip, key=lambda k: (method_sort_key(meth_of(k)), k[1]))
        for j, wset in enumerate(panels or ["none"]):
            axf = flip_axes[j]
            if j:
                axf.sharey(flip_axes[0])
            for i, key in enumerate(k for k in order if k[0] == wset):
                steps, mu, sd, n = flip[key]
                lo, hi = flip_range[key]
                c = color_for(meth_of(key), i)
                axf.plot(steps, mu, color=c, ls=flip_style[key],
                         label=f"{labels[key]} (n = {n})")
                ok = np.isfinite(lo) & np.isfinite(hi)
                axf.fill_between(steps, lo, hi, where=ok, color=c, alpha=0.15, lw=0)
            axf.set_yscale("symlog", linthresh=linthresh)
            axf.set_xlabel("step")
            axf.set_title(f"({chr(98 + j)}) {set_label(wset)}")
            if j == 0 or (1 + j) % ncols == 0:
                axf.set_ylabel("fraction of codes\nchanged per record")
        flip_axes[0].set_ylim(0, top)  # shared: once, after every panel has its data
        handles, labs = [], []
        for key in order:  # one entry per label (a cell's style is the same in every panel)
            for a in flip_axes:
                for h, lab in zip(*a.get_legend_handles_labels()):
                    if lab.startswith(labels[key] + " (n = ") and lab not in labs:
                        handles.append(h)
                        labs.append(lab)
        spare = cells[1 + len(flip_axes):]
        for a in spare:
            a.set_axis_off()
        if handles and spare:
            spare[0].legend(handles, labs, loc="center", title="cell (seeds)",
                            title_fontsize=6.5)
        elif handles:
            fig.legend(handles, labs, loc="outside lower center",
                       ncol=min(3 if ncols > 1 else 2, len(labs)))
        return save_figure(fig, out_dir, name, data)


def _lam_lines(lam: dict, labels: dict) -> dict[str, list]:
    """λ lines to draw, ``{legend label: [cells]}``: the cells of one method collapse to one
    line when they all share the same steps and mean λ (to 1e-12 relative), else one line per
    cell under the cell's label with its weight set."""
    by_method: dict[str, list] = {}
    for key in lam:
        by_method.setdefault(key[1].split(" (")[0], []).append(key)
    out: dict[str, list] = {}
    for meth in sorted(by_method, key=method_sort_key):
        keys = sorted(by_method[meth], key=lambda k: (set_sort_key(k[0]), k[1]))
        s0, m0, _ = lam[keys[0]]
        same = len(keys) > 1 and all(
            lam[k][0].shape == s0.shape and np.array_equal(lam[k][0], s0)
            and np.allclose(lam[k][1], m0, rtol=1e-12, atol=0, equal_nan=True)
            for k in keys[1:])
        if same:
            out[f"{method_label(meth)} (all {len(keys)} cells)"] = keys
        else:
            for k in keys:
                out[f"{labels[k]}, {set_label(k[0])}"] = [k]
    return out
