"""Smoke run of the optimizer-step benchmark: every variant is timed, ratios are consistent."""

import math

from benchmarks.optimizer_step import SETS, run


def test_quick_run_times_every_variant_with_consistent_ratios():
    rows = run(quick=True, device="cpu")
    variants = {r["variant"] for r in rows}
    expected = {"bare"} | {f"qopt/BinaryRelax/{q.spec}" for _, q in SETS}
    expected |= {f"proj-{kind}/{q.spec}" for _, q in SETS for kind in ("loop", "group")}
    assert expected <= variants
    for r in rows:
        assert r["step_us"] > 0 and math.isfinite(r["ratio"])
        assert math.isclose(r["ratio"], r["step_us"] / r["bare_us"], rel_tol=1e-12)
        assert r["pass_us"] > 0 and r["fwd_bwd_us"] > 0
    (bare,) = [r for r in rows if r["variant"] == "bare"]
    assert bare["ratio"] == 1.0
    assert bare["quantized_params"] == 784 * 64 + 64 * 10
    for r in rows:
        if r["variant"].startswith("qopt/"):  # None: no tensor took the certified search
            assert r["cert_held"] is None or 0.0 <= r["cert_held"] <= 1.0
        if r["variant"].startswith("proj-group/"):
            assert r["batched_speedup"] > 0
