"""Smoke run of the cold-start projection benchmark: rows consistent with their definitions."""

import math

from benchmarks.projection import CASES, run


def test_quick_rows_are_consistent():
    rows = run(quick=True, device="cpu", sets=["binary", "ternary", "uniform:4"])
    assert [(r["set"], r["n"]) for r in rows] == [(s, n) for n in (10**4, 10**5)
                                                   for s in ("binary", "ternary", "uniform:4")]
    for r in rows:
        assert r["seconds"] > 0 and r["pass_seconds"] > 0 and r["sort_seconds"] > 0
        assert math.isclose(r["x_pass"], r["seconds"] / r["pass_seconds"], rel_tol=1e-12)
        assert math.isclose(r["x_sort"], r["seconds"] / r["sort_seconds"], rel_tol=1e-12)
        assert r["ratio"] == (r["x_pass"] if r["floor"] == "pass" else r["x_sort"])
        assert r["target"] is None and r["met"] is None  # no target below 1e6


def test_cases_name_every_target_of_issue_14():
    specs = {s for s, _, _ in CASES}
    assert {"binary", "ternary"} | {f"uniform:{b}" for b in range(3, 9)} <= specs
    assert dict((s, (f, t)) for s, f, t in CASES)["binary"] == ("pass", 3.0)
    assert dict((s, (f, t)) for s, f, t in CASES)["ternary"] == ("sort", 1.5)
