"""Smoke run of the throughput benchmark (quick mode: tiny batch, one repeat)."""

from __future__ import annotations

import math

from benchmarks.throughput import VARIANTS, run


def test_throughput_quick_rows_are_consistent():
    rows = run(quick=True, device="cpu")
    mlp = [r for r in rows if r["model"] == "mlp"]
    assert [r["variant"] for r in mlp] == list(VARIANTS)  # every variant reported
    assert {(r["model"], r["variant"]) for r in rows if r["model"] == "resnet20"} == {
        ("resnet20", "float"), ("resnet20", "bcgd")}
    for r in rows:
        assert r["batch"] == 2 and r["device"] == "cpu" and r["input"] == "3x8x8"
        if r["error"] is None:
            # samples/s = batch / step time, by definition
            assert r["step_ms"] > 0
            assert math.isclose(r["samples_per_s"], r["batch"] / (r["step_ms"] / 1e3),
                                rel_tol=1e-9)
        else:
            assert r["samples_per_s"] is None and isinstance(r["error"], str)
    for r in rows:
        if r["variant"] == "float":
            assert r["error"] is None and r["rel_float"] == 1.0
