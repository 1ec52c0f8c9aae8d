"""Issue 19 items 5 (collapse counts) and 7: a study's comparison as Markdown and LaTeX, from
the statistics code ``qopt reproduce`` uses (qopt.study.stats)."""

import pytest

from qopt.reproduce import stats as reproduce_stats
from qopt.study import stats
from qopt.study.collapse import CHANCE_MARGIN, DROP, is_collapsed
from qopt.study.tables import comparison_table

A = {0: 0.90, 1: 0.92, 2: 0.91}
B = {0: 0.50, 1: 0.88, 2: 0.89}
F = {0: 0.95, 1: 0.95, 2: 0.96}


def _results():
    runs = []
    for w in ("binary", "ternary"):
        for s in range(3):
            runs.append({"method": "binaryrelax", "weights": w, "seed": s, "test_acc": A[s]})
            runs.append({"method": "binaryconnect", "weights": w, "seed": s, "test_acc": B[s],
                         "collapsed": s == 0})
    runs += [{"method": "float", "weights": None, "seed": s, "test_acc": F[s]} for s in range(3)]
    return {"grid_keys": ["method", "weights", "seed"], "runs": runs}


def test_one_statistics_implementation():
    assert reproduce_stats.t_interval is stats.t_interval
    assert reproduce_stats.paired_interval is stats.paired_interval


def test_markdown_table_cells_are_the_shared_intervals():
    md = comparison_table(_results(), "md")
    lines = md.splitlines()
    assert lines[2].startswith("| weights | binaryrelax | binaryconnect | float |")
    assert "binaryrelax − binaryconnect (paired)" in lines[2]
    assert len([ln for ln in lines if ln.startswith("| binary") or
                ln.startswith("| ternary")]) == 2  # float joins every weight-set row
    a = stats.t_interval(list(A.values())).fmt(100, 1, stats.ACCURACY)
    b = stats.t_interval(list(B.values())).fmt(100, 1, stats.ACCURACY)
    d = stats.paired_interval(list(A.values()), list(B.values())).fmt(100, 1)
    f = stats.t_interval(list(F.values())).fmt(100, 1, stats.ACCURACY)
    row = next(ln for ln in lines if ln.startswith("| binary |"))
    assert a in row and f"{b} (1/3 collapsed)" in row and d in row and f in row


def test_latex_table_is_escaped_and_complete():
    tex = comparison_table(_results(), "latex")
    assert tex.startswith("\\begin{table}") and "\\end{tabular}" in tex
    assert "binaryrelax $-$ binaryconnect (paired)" in tex
    assert "(\\%)" in tex and tex.count("\\\\") >= 3
    with pytest.raises(ValueError, match="fmt"):
        comparison_table(_results(), "html")


def test_collapse_rule_thresholds():
    assert is_collapsed(0.80, 10, parent_acc=0.80 + DROP + 1e-9)
    assert not is_collapsed(0.80, 10, parent_acc=0.80 + DROP - 1e-9)
    assert is_collapsed(0.1 + CHANCE_MARGIN - 1e-9, 10)
    assert not is_collapsed(0.1 + CHANCE_MARGIN + 1e-9, 10)
    assert not is_collapsed(None, 0)  # regression: never
