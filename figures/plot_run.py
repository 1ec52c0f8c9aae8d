r"""One training run's curves: ``qopt plot RUN_DIR`` (also ``qopt figures --run RUN_DIR``).

Reads the run directory the trainer wrote (``docs/formats.md#run-directory``):
``metrics.jsonl`` (records ``train``, ``eval``, ``diag``, ``probe``, ``final``) and, when present,
``config.json`` (for the title) and ``result.json``. Every panel is against the optimizer step,
so all panels share one x axis, and steps where ``phase`` = 2 (exact quantization) are shaded:

* (a) loss (log axis): the minibatch loss of each ``train`` record (thin, light), the full
  training-set loss and the test loss of each ``eval`` record;
* (b) accuracy (%): training, validation (``val_acc``, where logged) and test accuracy of each
  ``eval`` record — the trainer's end-of-epoch evaluations with the running BatchNorm
  statistics — and, where the run re-estimated BatchNorm at the end, the final test accuracy
  with re-estimated statistics as one marked point (the value the results table reports);
* (c) learning rate of the ``train`` records;
* one panel per method scalar: every global number of the ``diag`` / ``probe`` records other
  than the step counters, ``phase`` and ``lr`` — BinaryRelax's and ProxQuant's λ (``lam``),
  BCGD's ρ (``rho``), PARQ's inverse slope (``inv_slope``), ... (log axis when positive,
  symmetric-log when it holds zeros);
* dist²: the squared distance of each quantized tensor's latent weights to its projection
  (``NAME/dist2``), mean over tensors (line) and min–max over tensors (band), log axis;
* code flips: the fraction of a tensor's codes changed since the previous record
  (``NAME/flip_frac``), mean and min–max over tensors, symmetric-log axis (the zeros of phase II
  sit on a labelled 0).

A float run has no ``diag`` records: it gets panels (a)-(c) only. Nothing here recomputes a
training quantity; every value is read from what the trainer logged. Same style as every figure
(:mod:`figures.style`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from figures.labels import method_label, model_label, set_label
from figures.style import (
    FigureResult,
    color_for,
    log_axis_plain,
    new_figure,
    paper_style,
    save_figure,
)

__all__ = ["SCALAR_NAMES", "load_run_records", "method_scalars", "plot_run"]

#: display names of the method scalars (others show their key)
SCALAR_NAMES = {"lam": r"$\lambda$", "rho": r"$\rho$", "inv_slope": "PARQ inverse slope",
                "alpha": r"$\alpha$"}
#: global keys of diag / probe records that are not method scalars
_NOT_SCALARS = {"type", "step", "epoch", "phase", "lr", "opt_step", "opt_epoch", "tensors"}
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def load_run_records(run_dir: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """``metrics.jsonl`` of a run directory: record type -> records in file order (a torn last
    line of a killed run is skipped, any other damaged line is a ``ValueError`` naming it).
    ``ValueError`` naming the directory when it is not a
    run directory (no ``metrics.jsonl``), or when it is a study directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is not a directory" if os.path.lexists(run_dir) else "does not exist"
        raise ValueError(f"run directory {str(run_dir)!r} {what}")
    mfile = run_dir / "metrics.jsonl"
    if not mfile.is_file():
        if (run_dir / "runs").is_dir() or (run_dir / "curves.json").is_file():
            raise ValueError(f"{str(run_dir)!r} is a study directory, not a run: plot its "
                             "figures with `qopt figures --results DIR`, or one of its runs "
                             "with `qopt plot DIR/runs/RUN_ID`")
        raise ValueError(f"{str(run_dir)!r} is not a run directory (no metrics.jsonl)")
    from figures.study_data import read_metrics

    out: dict[str, list[dict[str, Any]]] = {}
    for rec in read_metrics(mfile):  # a damaged line (not the torn last one) is an error
        if isinstance(rec.get("step"), (int, float)):
            out.setdefault(str(rec.get("type", "")), []).append(rec)
    if not any(out.get(t) for t in ("train", "eval")):
        raise ValueError(f"{mfile}: no train or eval records (has the run started?)")
    return out


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _series(recs: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(float(r["step"]), _num(r.get(key))) for r in recs]
    pts = [(s, v) for s, v in pts if math.isfinite(v)]
    if not pts:
        return np.array([]), np.array([])
    s, v = zip(*pts)
    return np.array(s), np.array(v)


def method_scalars(records: dict[str, list[dict]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Global numeric keys of the diag records (else the probe records) -> (steps, values)."""
    recs = records.get("diag") or records.get("probe") or []
    keys = dict.fromkeys(k for r in recs for k, v in r.items()
                         if "/" not in k and k not in _NOT_SCALARS
                         and isinstance(v, (int, float)) and not isinstance(v, bool))
    out = {}
    for k in keys:
        s, v = _series(recs, k)
        if s.size:
            out[k] = (s, v)
    return out


def _per_tensor(recs: list[dict], suffix: str) -> tuple[np.ndarray, ...]:
    """(steps, mean, min, max) over tensors of ``NAME/<suffix>`` per record (finite only)."""
    steps, mean, lo, hi = [], [], [], []
    for r in recs:
        vals = [_num(v) for k, v in r.items() if k.endswith("/" + suffix)]
        vals = [v for v in vals if math.isfinite(v)]
        if vals:
            steps.append(float(r["step"]))
            mean.append(float(np.mean(vals)))
            lo.append(min(vals))
            hi.append(max(vals))
    return tuple(np.array(x) for x in (steps, mean, lo, hi))


def _title(run_dir: Path) -> str:
    try:
        cfg = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return run_dir.name
    parts = [method_label(cfg.get("method", "run"))]
    if cfg.get("weights"):
        parts.append(set_label(cfg["weights"]))
    parts += [model_label(cfg.get("model", "")), str(cfg.get("dataset", "")),
              f"lr {cfg.get('lr')}", f"seed {cfg.get('seed')}"]
    return f"{run_dir.name}: " + ", ".join(p for p in parts if p)


def _phase2_start(records: dict[str, list[dict]]) -> float | None:
    recs = sorted(records.get("diag") or records.get("probe") or [], key=lambda r: r["step"])
    prev = None
    for r in recs:
        if _num(r.get("phase")) >= 2:
            return float(r["step"]) if prev is None else 0.5 * (prev + float(r["step"]))
        prev = float(r["step"])
    return None


def _symlog(ax: Any, values: np.ndarray) -> None:
    pos = values[np.isfinite(values) & (values > 0)]
    t = 10.0 ** math.floor(math.log10(pos.min())) if pos.size else 1e-4
    ax.set_yscale("symlog", linthresh=t)


def plot_run(out_dir: str | os.PathLike, run_dir: str | os.PathLike, *,
             name: str | None = None) -> FigureResult:
    """Draw one run's curves (module docstring) into ``out_dir/NAME.{pdf,png}`` (default name
    ``run_<run id>``).

    Returns:
        :class:`FigureResult`; ``data["loss"|"accuracy"|"lr"][label] = (steps, values)``,
        ``data["scalars"][key] = (steps, values)``, ``data["dist2"]`` / ``data["flips"]`` =
        (steps, mean, min, max) over tensors (absent for a float run), ``data["final_acc"]`` =
        (step, %) of the BN re-estimated final accuracy or None, ``data["panels"]`` = the panel
        titles in order, ``data["phase2_from"]`` = the first phase-II step (or None).
    """
    run_dir = Path(run_dir)
    records = load_run_records(run_dir)
    name = name or f"run_{run_dir.resolve().name}"
    train, evals = records.get("train", []), records.get("eval", [])
    diag = records.get("diag", [])
    loss = {"minibatch": _series(train, "loss"), "training set": _series(evals, "train_loss"),
            "test": _series(evals, "test_loss")}
    acc = {}
    for key, label in (("train_acc", "training"), ("val_acc", "validation"),
                       ("test_acc", "test")):
        s, v = _series(evals, key)
        if s.size:
            acc[label] = (s, 100 * v)
    final_acc = None
    for r in records.get("final", []):
        if r.get("bn_recalibrated") and isinstance(r.get("test_acc"), (int, float)):
            final_acc = (float(r["step"]), 100 * float(r["test_acc"]))
    lr = {"learning rate": _series(train, "lr")}
    scalars = method_scalars(records)
    data: dict[str, Any] = {"loss": {k: v for k, v in loss.items() if v[0].size},
                            "accuracy": acc, "lr": lr, "scalars": scalars,
                            "final_acc": final_acc, "phase2_from": _phase2_start(records)}
    panels = ["(a) loss", "(b) accuracy", "(c) learning rate"]
    panels += [f"({chr(100 + i)}) {SCALAR_NAMES.get(k, k)}" for i, k in enumerate(scalars)]
    d2, fl = _per_tensor(diag, "dist2"), _per_tensor(diag, "flip_frac")
    if d2[0].size:
        data["dist2"] = d2
        panels.append(f"({chr(97 + len(panels))}) dist² to the set")
    if fl[0].size:
        data["flips"] = fl
        panels.append(f"({chr(97 + len(panels))}) code flips")
    data["panels"] = panels

    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    with paper_style():
        fig, axes = new_figure(ncols, nrows, width="page", aspect=0.75, sharex=True)
        cells = [axes[r, c] for r in range(nrows) for c in range(ncols)]
        for ax in cells[len(panels):]:
            ax.set_visible(False)
        it = iter(cells)
        ax = next(it)
        styles = {"minibatch": {"color": "0.7", "lw": 0.6}, "training set": {"color": _PALETTE[0]},
                  "test": {"color": _PALETTE[1]}}
        for label, (s, v) in data["loss"].items():
            ax.plot(s, v, label=label, **styles[label])
        log_axis_plain(ax)
        ax.set_ylabel("loss")
        ax.legend(loc="best", fontsize=6)
        ax = next(it)
        colours = {"training": _PALETTE[0], "validation": _PALETTE[2], "test": _PALETTE[1]}
        for label, (s, v) in acc.items():
            ax.plot(s, v, label=f"{label} (running BN)", color=colours[label], marker="o",
                    ms=2.5)
        if final_acc is not None:
            ax.plot(*final_acc, ls="", marker="*", ms=7, color=_PALETTE[1], mfc="white",
                    label="test, final (BN re-estimated)")
        ax.set_ylabel("accuracy (%)")
        ax.legend(loc="best", fontsize=6)
        ax = next(it)
        s, v = lr["learning rate"]
        ax.plot(s, v, color="0.2")
        ax.set_ylabel("learning rate")
        for k, (s, v) in scalars.items():
            ax = next(it)
            ax.plot(s, v, color=color_for(_method(run_dir)), marker="o", ms=2)
            if (v > 0).all():
                log_axis_plain(ax)
            else:
                _symlog(ax, v)
            ax.set_ylabel(SCALAR_NAMES.get(k, k))
        for key, ylabel in (("dist2", r"$\mathrm{dist}(w, Q)^2$ per tensor"),
                            ("flips", "fraction of codes changed")):
            if key not in data:
                continue
            ax = next(it)
            s, mu, lo, hi = data[key]
            c = color_for(_method(run_dir))
            ax.plot(s, mu, color=c, label="mean over tensors")
            ax.fill_between(s, lo, hi, color=c, alpha=0.2, lw=0, label="min–max over tensors")
            if key == "dist2" and (lo > 0).all():
                log_axis_plain(ax)
            else:
                _symlog(ax, np.concatenate([lo, hi]))
                ax.set_ylim(bottom=0)
            ax.set_ylabel(ylabel)
            ax.legend(loc="best", fontsize=6)
        for ax, title in zip(cells, panels):
            ax.set_title(title)
            if data["phase2_from"] is not None:
                ax.axvspan(data["phase2_from"], max(_last_step(records), data["phase2_from"]),
                           color="0.9", lw=0, zorder=0)
        for ax in cells[max(0, len(panels) - ncols):len(panels)]:
            ax.set_xlabel("step")
            ax.tick_params(labelbottom=True)
        note = " · shaded: phase II (exact quantization)" if data["phase2_from"] else ""
        fig.suptitle(_title(run_dir) + note, fontsize=7)
        return save_figure(fig, out_dir, name, data)


def _last_step(records: dict[str, list[dict]]) -> float:
    return max(float(r["step"]) for recs in records.values() for r in recs)


def _method(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
                   .get("method", "run"))
    except (OSError, ValueError):
        return "run"
