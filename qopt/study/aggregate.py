r"""Results of a study: one row per cell (all grid keys except ``seed``) with, for each metric,
mean, sample std and a 95% confidence interval over seeds; every run's per-epoch curves; and a
printed summary table.

Metrics per run (from its ``result.json``):

==========================  =====================================================================
``test_acc``                final test accuracy on the exactly quantized weights, after BatchNorm
                            re-estimation when the run did it (``final``)
``test_acc_raw``            the same weights with the running BatchNorm statistics (``final_raw``)
``val_acc``                 final VALIDATION accuracy (same network as ``test_acc``): what
                            selections read
``best_val_acc``            best per-epoch validation accuracy (running statistics)
``test_acc_at_best_val``    test accuracy at the validation-best epoch (``best_epoch``, chosen on
                            validation only; never the best test epoch)
``last_k_test_acc``         mean test accuracy over the last k epochs (``[study] last_k``,
                            default 5): less sensitive to the epoch-to-epoch swings of Phase II
                            than the final
``test_loss``, ``test_loss_raw``, ``val_loss``, ``last_k_test_loss``, ``train_loss``,
``train_acc``: likewise
==========================  =====================================================================

For K seeds with values :math:`a_1..a_K`: mean :math:`\bar a`, sample std
:math:`s = \sqrt{\sum (a_k-\bar a)^2/(K-1)}` (0 for K = 1) and the 95% Student-t interval
:math:`\bar a \pm t_{0.975,K-1}\, s/\sqrt K` (half-width ``_ci95``; NaN for K = 1). The t interval
assumes the seed-to-seed values are roughly normal; with 3 seeds :math:`t_{0.975,2} = 4.30`, so
the interval is wide — it says how little 3 seeds pin down.
Files: ``results.csv``, ``results.json``, ``curves.json`` (written atomically).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qopt.study.collapse import RULE
from qopt.train.io import atomic_write_json, atomic_write_text

METRICS = ("test_acc", "test_acc_raw", "val_acc", "best_val_acc", "test_acc_at_best_val",
           "last_k_test_acc", "test_loss", "test_loss_raw", "val_loss", "last_k_test_loss",
           "train_loss", "train_acc")


def mean_std(xs: Sequence[float | None]) -> tuple[float, float]:
    """(mean, sample std with ddof = 1; 0.0 for one value). NaN for no values."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return float("nan"), float("nan")
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return m, 0.0
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def ci95_halfwidth(sd: float, n: int) -> float:
    r""":math:`t_{0.975,n-1}\,s/\sqrt n` (NaN for n < 2)."""
    if n < 2 or sd != sd:
        return float("nan")
    from qopt.study.stats import _tq

    return _tq(0.95, n - 1) * sd / math.sqrt(n)


def run_metrics(result: dict[str, Any], last_k: int) -> dict[str, float | None]:
    """The metrics of the module docstring for one run's result dict."""
    fin = result["final"]
    raw = result.get("final_raw", fin)
    hist = result.get("history", [])
    tail = hist[-last_k:] if last_k > 0 else []

    def tail_mean(key: str) -> float | None:
        vals = [h[key] for h in tail if h.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    return {"test_acc": fin.get("test_acc"), "test_acc_raw": raw.get("test_acc"),
            "val_acc": fin.get("val_acc"), "best_val_acc": result.get("best_val_acc"),
            "test_acc_at_best_val": result.get("test_acc_at_best_val"),
            "last_k_test_acc": tail_mean("test_acc"),
            "test_loss": fin.get("test_loss"), "test_loss_raw": raw.get("test_loss"),
            "val_loss": fin.get("val_loss"),
            "last_k_test_loss": tail_mean("test_loss"), "train_loss": fin.get("train_loss"),
            "train_acc": fin.get("train_acc")}


def _label(v: Any) -> str:
    if isinstance(v, dict):
        return ",".join(f"{k}={x}" for k, x in v.items()) or "-"
    return "none" if v is None else str(v)


def aggregate(grid_keys: Sequence[str], runs: list[dict], last_k: int = 5) -> list[dict]:
    """Rows of the results table. ``runs``: dicts with ``keys`` (grid values) and ``result``
    (the run's result.json)."""
    group_keys = [k for k in grid_keys if k != "seed"]
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault(tuple(_label(r["keys"].get(k)) for k in group_keys), []).append(r)
    rows = []
    for gk, rs in groups.items():
        row: dict[str, Any] = dict(zip(group_keys, gk))
        row["n_seeds"] = len(rs)
        per_run = [run_metrics(r["result"], last_k) for r in rs]
        for m in METRICS:
            vals = [p[m] for p in per_run if p[m] is not None]
            mu, sd = mean_std(vals)
            row[f"{m}_mean"], row[f"{m}_std"] = mu, sd
            row[f"{m}_ci95"] = ci95_halfwidth(sd, len(vals))
        row["n_collapsed"] = sum(bool(r.get("collapsed")) for r in rs)
        row["wall_s_mean"] = mean_std([r["result"].get("wall_s") for r in rs])[0]
        row["seeds"] = sorted(r["keys"].get("seed", r["result"]["config"]["seed"]) for r in rs)
        rows.append(row)
    return rows


def curves(runs: list[dict]) -> dict[str, dict]:
    """Per-run per-epoch curves keyed by run id."""
    out = {}
    for r in runs:
        h = r["result"]["history"]
        c: dict[str, Any] = {"keys": r["keys"], "epoch": [e["epoch"] for e in h],
                             "step": [e["step"] for e in h]}
        for m in ("val_acc", "val_loss", "test_acc", "test_loss", "train_loss", "train_acc",
                  "train_loss_batch", "lr"):
            c[m] = [e.get(m) for e in h]
        out[r["run_id"]] = c
    return out


def write_results(study_dir: Path, name: str, grid_keys: Sequence[str], runs: list[dict],
                  last_k: int = 5, extra: dict | None = None) -> list[dict]:
    """Write results.csv / results.json / curves.json atomically; return the rows. ``extra``:
    more top-level entries of results.json (a tuned study's ``tune``)."""
    rows = aggregate(grid_keys, runs, last_k)
    cols = list(rows[0].keys()) if rows else []
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: (";".join(map(str, v)) if isinstance(v, list) else
                        (f"{v:.6g}" if isinstance(v, float) else v)) for k, v in row.items()})
    atomic_write_text(study_dir / "results.csv", buf.getvalue())
    atomic_write_json(study_dir / "results.json", {
        "study": name, "grid_keys": list(grid_keys), "last_k": last_k,
        "std": "sample std over seeds (ddof=1)",
        "ci95": "half-width of the 95% Student-t interval over seeds: t(0.975, n-1) s / sqrt(n)",
        "test_acc": "final, on exactly quantized weights, after BatchNorm re-estimation when "
                    "the run did it; test_acc_raw: running BatchNorm statistics",
        "rows": rows,
        "collapsed": RULE,
        "runs": [{"run_id": r["run_id"], **{k: _plain(v) for k, v in r["keys"].items()},
                  **run_metrics(r["result"], last_k), "collapsed": bool(r.get("collapsed"))}
                 for r in runs], **(extra or {})})
    atomic_write_json(study_dir / "curves.json", curves(runs))
    from qopt.study.tables import comparison_table

    res = {"grid_keys": list(grid_keys), "runs": [
        {**{k: _plain(v) for k, v in r["keys"].items()}, **run_metrics(r["result"], last_k),
         "collapsed": bool(r.get("collapsed"))} for r in runs]}
    atomic_write_text(study_dir / "tables.md", comparison_table(res, "md") + "\n")
    atomic_write_text(study_dir / "tables.tex", comparison_table(res, "latex") + "\n")
    return rows


def _plain(v: Any) -> Any:
    return _label(v) if isinstance(v, dict) else v


def _fmt(mu: float, sd: float, pct: bool) -> str:
    if mu != mu:
        return "-"
    return f"{100 * mu:5.1f} ± {100 * sd:4.1f}" if pct else f"{mu:.4g} ± {sd:.2g}"


def _grid(head: list[str], lines: list[list[str]]) -> list[str]:
    widths = [max(len(line[i]) for line in [head, *lines]) for i in range(len(head))]
    out = [" | ".join(s.ljust(w) for s, w in zip(line, widths)).rstrip()
           for line in [head, *lines]]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return out


def summary_table(grid_keys: Sequence[str], rows: list[dict], last_k: int = 5) -> str:
    """Plain-text tables: (1) final test accuracy (%) pivoted by weight set (test loss for
    regression), mean ± std over seeds; (2) per cell: final, raw, best and last-k mean, each
    mean ± std, and the final's 95% interval."""
    keys = [k for k in grid_keys if k != "seed"]
    reg = bool(rows) and all(r["test_acc_mean"] != r["test_acc_mean"] for r in rows)
    metric = "test_loss" if reg else "test_acc"
    n_seeds = "/".join(map(str, sorted({r["n_seeds"] for r in rows})))
    col_key = "weights" if "weights" in keys else None
    row_keys = [k for k in keys if k != col_key]
    cols: list[str] = []
    table: dict[tuple, dict[str, str]] = {}
    for r in rows:
        rk = tuple(r[k] for k in row_keys)
        c = ("float" if r.get(col_key) == "none" else r[col_key]) if col_key else metric
        if c not in cols:
            cols.append(c)
        table.setdefault(rk, {})[c] = _fmt(r[f"{metric}_mean"], r[f"{metric}_std"], not reg)
    head = "/".join(row_keys) or "run"
    pivot = _grid([head, *cols], [[" ".join(map(str, rk)) or "-", *(v.get(c, "") for c in cols)]
                                  for rk, v in table.items()])
    what = "test loss" if reg else ("test accuracy (%) on exactly quantized weights, BatchNorm "
                                    "re-estimated")
    out = [f"{what}, mean ± std over {n_seeds} seed(s)", *pivot, ""]
    pct = not reg
    m = "loss" if reg else "acc"
    detail_head = [" ".join(keys) or "run", "n", "collapsed", "final", "95% CI", "raw BN",
                   "val (final)", "test @ val-best", f"last-{last_k} mean"]
    detail = []
    for r in rows:
        mu, hw = r[f"test_{m}_mean"], r[f"test_{m}_ci95"]
        ci = "-" if hw != hw else (  # accuracies: the interval shown within [0, 100]
            f"[{max(0.0, 100 * (mu - hw)):.1f}, {min(100.0, 100 * (mu + hw)):.1f}]" if pct
            else f"[{mu - hw:.4g}, {mu + hw:.4g}]")
        best = _fmt(r["test_acc_at_best_val_mean"], r["test_acc_at_best_val_std"], pct) \
            if not reg else "-"
        detail.append([" ".join(str(r[k]) for k in keys) or "-", str(r["n_seeds"]),
                       str(r.get("n_collapsed", 0)),
                       _fmt(r[f"test_{m}_mean"], r[f"test_{m}_std"], pct), ci,
                       _fmt(r[f"test_{m}_raw_mean"], r[f"test_{m}_raw_std"], pct),
                       _fmt(r[f"val_{m}_mean"], r[f"val_{m}_std"], pct), best,
                       _fmt(r[f"last_k_test_{m}_mean"], r[f"last_k_test_{m}_std"], pct)])
    out += [f"per cell: final (BN re-estimated), its 95% t-interval over seeds (clipped to "
            f"[0, 100]), the same weights with running BN statistics, and the final VALIDATION "
            f"accuracy; test accuracy at the validation-best epoch (chosen on validation, never "
            f"on test) and the mean of the last {last_k} epochs, from the per-epoch evaluations "
            f"(running BN statistics); {RULE}", *_grid(detail_head, detail)]
    return "\n".join(out)
