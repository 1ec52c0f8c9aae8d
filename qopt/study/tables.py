r"""A study's comparison as a table a paper can use: Markdown or LaTeX.

Rows: the grid cells without ``method`` and ``seed`` (e.g. one row per weight set); columns:
one per method — the mean of the metric over seeds with its 95% Student-t interval,
:func:`qopt.study.stats.t_interval`, and the number of collapsed runs when there are any
(:mod:`qopt.study.collapse`) — then one column per pair of methods A − B: the interval of the
mean per-seed difference, :func:`qopt.study.stats.paired_interval`, over the seeds both
finished (runs of one seed share their initialisation). These are the statistics ``qopt
reproduce`` uses (one implementation, :mod:`qopt.study.stats`). Pairs: ``pairs`` when given,
else every pair of non-float methods in grid order. Accuracies are shown in percent, the
interval ends clipped to [0, 100] (``Interval.fmt``).

Written by every study as ``tables.md`` and ``tables.tex`` (from ``results.json``'s ``runs``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from qopt.study.stats import ACCURACY, paired_interval, t_interval

__all__ = ["comparison_table"]


def _cell(vals: dict[Any, float], collapsed: int, acc: bool) -> str:
    if not vals:
        return "-"
    iv = t_interval([vals[s] for s in sorted(vals, key=str)])
    text = iv.fmt(100, 1, ACCURACY) if acc else iv.fmt(1, 4)
    return text + (f" ({collapsed}/{len(vals)} collapsed)" if collapsed else "")


def comparison_table(results: dict[str, Any], fmt: str = "md", metric: str = "test_acc",
                     pairs: Sequence[tuple[str, str]] | None = None) -> str:
    """The comparison table of a study's ``results.json`` (module docstring). ``fmt``:
    ``"md"`` or ``"latex"``. Raises ``ValueError`` for another format."""
    if fmt not in ("md", "latex"):
        raise ValueError(f"fmt must be 'md' or 'latex', got {fmt!r}")
    keys = [k for k in results["grid_keys"] if k not in ("seed", "method")]
    runs = [r for r in results["runs"] if r.get(metric) is not None]
    methods = list(dict.fromkeys(str(r.get("method", "-")) for r in runs))
    if pairs is None:
        q = [m for m in methods if m != "float"]
        pairs = list(itertools.combinations(q, 2))
    acc = metric.endswith("_acc") or metric == "test_acc_at_best_val"
    free = ("weights", "axis")  # a float run has none: it belongs to every such row
    rows: dict[tuple, dict[str, dict]] = {}
    floats: dict[tuple, dict[str, dict]] = {}
    for r in runs:
        fl = str(r.get("method")) == "float"
        rk = tuple("*" if fl and k in free else str(r.get(k)) for k in keys)
        d = (floats if fl else rows).setdefault(rk, {}).setdefault(
            str(r.get("method", "-")), {"vals": {}, "collapsed": 0})
        d["vals"][r.get("seed", r.get("run_id"))] = float(r[metric])
        d["collapsed"] += bool(r.get("collapsed"))
    if not rows:
        rows, floats = floats, {}
    head = [*(keys or ["cell"]), *methods, *(f"{a} − {b} (paired)" for a, b in pairs)]
    lines = []
    for rk, per in rows.items():
        fk = tuple("*" if k in free else v for k, v in zip(keys, rk))
        per = {**floats.get(fk, {}), **per}
        cells = [_cell(per[m]["vals"], per[m]["collapsed"], acc) if m in per else "-"
                 for m in methods]
        for a, b in pairs:
            if a in per and b in per:
                s = sorted(set(per[a]["vals"]) & set(per[b]["vals"]), key=str)
                if s:
                    iv = paired_interval([per[a]["vals"][x] for x in s],
                                         [per[b]["vals"][x] for x in s])
                    cells.append(iv.fmt(100, 1) if acc else iv.fmt(1, 4))
                    continue
            cells.append("-")
        lines.append([*(rk or ("all",)), *cells])
    what = {"test_acc": "final test accuracy (%)",
            "val_acc": "final validation accuracy (%)",
            "test_acc_at_best_val": "test accuracy (%) at the validation-best epoch"}.get(
                metric, metric)
    caption = (f"{what}: mean [95% t interval] over seeds; A − B: mean per-seed difference "
               "[95% paired t interval] over the seeds both finished")
    if fmt == "md":
        out = [f"**{caption}**", "", "| " + " | ".join(head) + " |",
               "|" + "|".join(" --- " for _ in head) + "|"]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    esc = _latex
    out = ["\\begin{table}[t]", "\\centering", "\\begin{tabular}{" + "l" * len(keys or [0])
           + "c" * (len(head) - len(keys or [0])) + "}", "\\toprule",
           " & ".join(esc(h) for h in head) + " \\\\", "\\midrule"]
    out += [" & ".join(esc(c) for c in line) + " \\\\" for line in lines]
    out += ["\\bottomrule", "\\end{tabular}", f"\\caption{{{esc(caption)}}}", "\\end{table}"]
    return "\n".join(out)


_LATEX = {"\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "_": "\\_", "#": "\\#",
          "$": "\\$", "{": "\\{", "}": "\\}", "−": "$-$", "~": "\\textasciitilde{}",
          "^": "\\textasciicircum{}"}


def _latex(s: str) -> str:
    """``s`` with LaTeX's special characters escaped (one pass, character by character)."""
    return "".join(_LATEX.get(c, c) for c in s)
