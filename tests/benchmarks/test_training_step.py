"""Smoke run of the training-step benchmark (tiny MLP): every variant timed, ratios consistent."""

import math

from benchmarks.training_step import SETS, run


def test_quick_training_step_rows():
    rows = run(quick=True, device="cpu")
    names = [r["variant"] for r in rows]
    assert names[0] == "float" and rows[0]["rel_step"] == 1.0
    assert {f"qopt/{s}" for s in SETS} <= set(names)
    ref = rows[0]["step_ms"]
    for r in rows:
        assert r["step_ms"] > 0 and math.isclose(r["rel_step"], r["step_ms"] / ref, rel_tol=1e-9)
        if r["impl"].startswith("qopt"):
            assert r["target"] == SETS[r["set"]][1] and isinstance(r["met"], bool)
        if r["impl"] == "qopt":
            assert r["cert_held"] is None or 0.0 <= r["cert_held"] <= 1.0
