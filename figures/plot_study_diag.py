r"""BinaryRelax's λ continuation and the fraction of weights that changed code, from a study.

Reads the ``"type": "diag"`` records of every run (``runs/<id>/metrics.jsonl``; keys in API.md
"Diagnostics keys"):

* panel (a): λ against step for the BinaryRelax runs (global key ``lam``; log scale), one line per
  weight set; steps where ``phase`` = 2 (exact quantization) are shaded. For the released schedule
  λ_e = λ₀ g^{e+1} the line is straight on the log scale (papers.md §B).
* one panel per weight set: the code-flip fraction against step — for each record the unweighted
  mean over quantized tensors of ``NAME/flip_frac`` (the fraction of that tensor's codes changed
  since the previous record; the diag records carry no tensor sizes, so the mean is per tensor),
  then mean ± sample std over seeds, one line per method.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from figures.study_data import group_runs, load_diag, mean_std_curves
from figures.style import (
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


def _aligned(runs: list[list[dict]], fn: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = np.array(sorted({int(r["step"]) for recs in runs for r in recs}))
    index = {s: i for i, s in enumerate(steps)}
    rows = []
    for recs in runs:
        row: list[Any] = [None] * steps.size
        for r in recs:
            row[index[int(r["step"])]] = fn(r)
        rows.append(row)
    mean, std, _ = mean_std_curves(rows)
    return steps, mean, std


def plot_study_diag(out_dir: str | os.PathLike, study_dir: str | os.PathLike, *,
                    name: str = "study_diag") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Returns:
        :class:`FigureResult`; ``data["lam"][weights] = (steps, mean λ, phase2 mask)``,
        ``data["flip"][(weights, method)] = (steps, mean, std, n_seeds)``.
    """
    runs = load_diag(study_dir)
    if not runs:
        raise ValueError(f"no diag records in any run of {str(study_dir)!r} (only float runs?)")
    lam: dict = {}
    flip: dict = {}
    for cell, rids in group_runs(runs).items():
        d = dict(cell)
        wset, meth = d.get("weights", "none"), d.get("method", "run")
        recs = [runs[r]["records"] for r in rids]
        if any(isinstance(r.get("lam"), (int, float)) for rr in recs for r in rr):
            steps, mu, _ = _aligned(recs, lambda r: r.get("lam"))
            _, ph, _ = _aligned(recs, lambda r: r.get("phase"))
            lam[wset] = (steps, mu, ph >= 2)
        steps, mu, sd = _aligned(recs, flip_fraction)
        if np.isfinite(mu).any():
            flip[(wset, meth)] = (steps, mu, sd, len(rids))
    panels = sorted({w for w, _ in flip})
    data = {"lam": lam, "flip": flip}

    with paper_style():
        fig, axes = new_figure(1 + max(1, len(panels)), 1,
                               width="page" if len(panels) > 1 else "column", aspect=0.9)
        ax = axes[0, 0]
        for i, (wset, (steps, mu, ph2)) in enumerate(sorted(lam.items())):
            ax.plot(steps, mu, color=f"C{i}", ls=("-", "--", ":", "-.")[i % 4], label=f"{wset}")
            if ph2.any():
                k = int(np.argmax(ph2))
                start = steps[k] if k == 0 else 0.5 * (steps[k - 1] + steps[k])
                ax.axvspan(start, steps[-1], color="0.88", lw=0, zorder=0)
        if lam:
            log_axis_plain(ax)
            ax.legend(loc="upper left", title="BinaryRelax", title_fontsize=6.5)
        else:
            ax.text(0.5, 0.5, "no BinaryRelax runs", transform=ax.transAxes, ha="center")
        ax.set_xlabel("step")
        ax.set_ylabel(r"$\lambda$ (shaded: phase II)")
        ax.set_title(r"(a) $\lambda$ continuation")
        for j, wset in enumerate(panels or ["none"]):
            axf = axes[0, 1 + j]
            for i, ((w, meth), (steps, mu, sd, n)) in enumerate(sorted(flip.items())):
                if w != wset:
                    continue
                c = color_for(meth, i)
                axf.plot(steps, mu, color=c, label=f"{meth} (n={n})")
                axf.fill_between(steps, np.maximum(mu - sd, 0), mu + sd, color=c, alpha=0.2,
                                 lw=0)
            axf.set_yscale("symlog", linthresh=1e-4)
            axf.set_ylim(bottom=0)
            axf.set_xlabel("step")
            axf.set_title(f"({chr(98 + j)}) code flips, weights: {wset}")
            if j == 0:
                axf.set_ylabel("fraction of codes changed\nsince previous record")
        handles, labels = axes[0, 1].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)))
        return save_figure(fig, out_dir, name, data)
