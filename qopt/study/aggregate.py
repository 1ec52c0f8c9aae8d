r"""Results of a study: one row per grid cell (all grid keys except ``seed``) with
mean ± std over seeds, every run's per-epoch curves, and a printed summary table.

For a cell with final values :math:`a_1..a_K` over K seeds: mean :math:`\bar a = \frac1K\sum a_k`,
std :math:`s = \sqrt{\frac{1}{K-1}\sum (a_k-\bar a)^2}` (sample std, ddof = 1; 0 when K = 1).
Files (API.md "Study directory"): ``results.csv``, ``results.json``, ``curves.json``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qopt.train.io import atomic_write_json, atomic_write_text

METRICS = ("test_acc", "test_loss", "train_loss", "train_acc")


def mean_std(xs: Sequence[float]) -> tuple[float, float]:
    """(mean, sample std with ddof = 1; 0.0 for one value). NaN for no values."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return float("nan"), float("nan")
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return m, 0.0
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _label(v: Any) -> str:
    return "none" if v is None else str(v)


def aggregate(grid_keys: Sequence[str], runs: list[dict]) -> list[dict]:
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
        for m in METRICS:
            mu, sd = mean_std([r["result"]["final"].get(m) for r in rs])
            row[f"{m}_mean"], row[f"{m}_std"] = mu, sd
        mu, sd = mean_std([r["result"].get("best_test_acc") for r in rs])
        row["best_test_acc_mean"], row["best_test_acc_std"] = mu, sd
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
        for m in (*METRICS, "train_loss_batch", "lr"):
            c[m] = [e.get(m) for e in h]
        out[r["run_id"]] = c
    return out


def write_results(study_dir: Path, name: str, grid_keys: Sequence[str], runs: list[dict]
                  ) -> list[dict]:
    """Write results.csv / results.json / curves.json atomically; return the rows."""
    rows = aggregate(grid_keys, runs)
    cols = list(rows[0].keys()) if rows else []
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: (";".join(map(str, v)) if isinstance(v, list) else
                        (f"{v:.6g}" if isinstance(v, float) else v)) for k, v in row.items()})
    atomic_write_text(study_dir / "results.csv", buf.getvalue())
    atomic_write_json(study_dir / "results.json", {
        "study": name, "grid_keys": list(grid_keys), "std": "sample std over seeds (ddof=1)",
        "rows": rows,
        "runs": [{"run_id": r["run_id"], **r["keys"], **{m: r["result"]["final"].get(m)
                                                        for m in METRICS}} for r in runs]})
    atomic_write_json(study_dir / "curves.json", curves(runs))
    return rows


def _fmt(mu: float, sd: float, pct: bool) -> str:
    if mu != mu:
        return "-"
    return f"{100 * mu:5.1f} ± {100 * sd:4.1f}" if pct else f"{mu:.4g} ± {sd:.2g}"


def summary_table(grid_keys: Sequence[str], rows: list[dict]) -> str:
    """Plain-text table. With a ``weights`` grid key: rows = the other keys, columns = weight
    sets (``float`` runs in a ``float`` column); cells = final test accuracy (%) (test loss for
    regression), mean ± std over seeds."""
    keys = [k for k in grid_keys if k != "seed"]
    reg = bool(rows) and all(r["test_acc_mean"] != r["test_acc_mean"] for r in rows)
    metric = "test_loss" if reg else "test_acc"
    if "weights" in keys:
        col_key = "weights"
        row_keys = [k for k in keys if k != col_key]
    else:
        col_key, row_keys = None, keys
    cols: list[str] = []
    table: dict[tuple, dict[str, str]] = {}
    n_seeds = sorted({r["n_seeds"] for r in rows})
    for r in rows:
        rk = tuple(r[k] for k in row_keys)
        c = ("float" if r.get(col_key) == "none" else r[col_key]) if col_key else metric
        if c not in cols:
            cols.append(c)
        table.setdefault(rk, {})[c] = _fmt(r[f"{metric}_mean"], r[f"{metric}_std"], not reg)
    head = "/".join(row_keys) or "run"
    lines = [[head, *cols]] + [[" ".join(map(str, rk)) or "-", *(v.get(c, "") for c in cols)]
                               for rk, v in table.items()]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = [" | ".join(s.ljust(w) for s, w in zip(line, widths)) for line in lines]
    out.insert(1, "-+-".join("-" * w for w in widths))
    what = ("test loss" if reg else "test accuracy (%) on exactly quantized weights")
    return f"{what}, mean ± std over {'/'.join(map(str, n_seeds))} seed(s)\n" + "\n".join(out)
