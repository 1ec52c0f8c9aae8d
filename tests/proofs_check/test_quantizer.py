"""verify_quantizer: exact projections pass; each wrong quantizer fails the right check with a
minimal counterexample that really fails (re-checked here against theory directly)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from proofs_check import QuantizerError, verify_quantizer
from proofs_check.adapter import QuantizerCaller
from proofs_check.quantizer_checks import CHECKS
from tests.proofs_check import wrong_quantizers as wq
from theory import Binary, Grid, Symmetric, Ternary, Uniform, project

N = 30  # hypothesis examples per check in these tests (plus the corpus and shrinking)

SETS = [Binary(), Ternary(), Uniform(3), Symmetric(2), Grid([-4, -2, -1, 0, 1, 2, 4], None),
        Grid([-1, 0, 1]), Uniform(4, 0.25), Grid([-1, 0.5, 3], scale=2.0)]


@pytest.mark.parametrize("qset", SETS, ids=lambda s: s.spec)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_exact_projection_of_theory_passes_every_check(qset, axis):
    report = verify_quantizer(lambda w: project(w, qset, axis), qset, axis, max_examples=N)
    assert report.passed, report.table()
    applicable = {c.name for c in report.checks if c.status == "pass"}
    assert {"membership", "optimality", "idempotence", "prox_invariance", "prox_value",
            "determinism"} <= applicable
    assert ("orthogonality" in applicable) == qset.is_cone
    assert report["optimality"].figure == pytest.approx(1.0, abs=1e-9)


def test_exact_projection_in_float32_passes_with_dtype_tolerance():
    report = verify_quantizer(lambda w: project(w, Uniform(3)).q, Uniform(3), dtype="float32",
                              max_examples=N)
    assert report.passed, report.table()
    # r = 32 eps32 (1 + log2 257) ~ 3.4e-5: the measured optimality ratio is within it
    assert report["optimality"].figure <= 1 + 4e-5


def _failed(report, name):
    c = report[name]
    assert c.status == "FAIL", report.table()
    assert c.counterexample is not None and c.counterexample.size >= 1
    return c


def _excess(w, q, qset, axis=None):
    """||w - q||^2 - dist(w, Q)^2 (> 0: q is not a nearest point)."""
    return np.sum((w - q) ** 2) - np.sum(project(w, qset, axis).dist2)


def test_twn_threshold_fails_optimality_only():
    report = verify_quantizer(wq.twn_ternary, Ternary(), max_examples=N)
    c = _failed(report, "optimality")
    w = c.counterexample
    assert w.size <= 4, c  # shrunk
    assert _excess(w, wq.twn_ternary(w), Ternary()) > 1e-3 * np.dot(w, w)
    # TWN's output is in Q, orthogonal, idempotent, deterministic: those checks must pass
    for name in ("membership", "orthogonality", "idempotence", "determinism", "sign_symmetry"):
        assert report[name].status == "pass", report.table()
    assert report["optimality"].figure > 1.2  # the worst ratio found over the search


def test_half_scale_fails_optimality_and_orthogonality():
    report = verify_quantizer(wq.half_scale_binary, Binary(), max_examples=N)
    w = _failed(report, "optimality").counterexample
    assert np.sum((w - wq.half_scale_binary(w)) ** 2) > np.sum(project(w, Binary()).dist2)
    wo = _failed(report, "orthogonality").counterexample
    q = wq.half_scale_binary(wo)
    assert abs(np.dot(wo - q, q)) > 1e-3 * np.dot(wo, wo)
    assert report["membership"].status == "pass"
    assert report["scale_equivariance"].status == "pass"


def test_sign_breaking_quantizer_fails_sign_symmetry():
    report = verify_quantizer(wq.sign_biased_ternary, Ternary(), max_examples=N,
                              checks=["sign_symmetry", "membership", "determinism"])
    w = _failed(report, "sign_symmetry").counterexample
    a, b = wq.sign_biased_ternary(-w), -wq.sign_biased_ternary(w)
    assert not np.allclose(a, b)
    assert report["membership"].status == "pass"


def test_value_outside_q_fails_membership_with_a_zero_entry():
    report = verify_quantizer(wq.outside_binary, Binary(), max_examples=N,
                              checks=["membership", "optimality", "determinism"])
    c = _failed(report, "membership")
    w = c.counterexample
    assert np.any(w == 0) and np.any(w != 0) and w.size <= 3
    q = wq.outside_binary(w)
    assert not np.all(np.isclose(np.abs(q), np.abs(q).max()))  # really two magnitudes
    assert "fn(w)" in c.extra


def test_stochastic_quantizer_fails_determinism():
    report = verify_quantizer(wq.stochastic_binary, Binary(), max_examples=N)
    c = _failed(report, "determinism")
    assert c.figure > 0
    assert report["membership"].status == "pass"


def test_even_only_quantizer_fails_on_an_odd_length():
    report = verify_quantizer(wq.even_only_binary, Binary(), max_examples=N)
    w = _failed(report, "optimality").counterexample
    assert w.size % 2 == 1
    assert report["membership"].status == "pass"


def test_global_scale_fails_per_channel_optimality():
    report = verify_quantizer(wq.global_scale_binary, Binary(), axis=0, max_examples=N,
                              checks=["optimality", "membership"])
    w = _failed(report, "optimality").counterexample
    assert w.ndim == 2 and w.shape[0] >= 2
    assert _excess(w, wq.global_scale_binary(w), Binary(), axis=0) > 1e-6 * np.sum(w * w)
    # per tensor it is exact
    assert verify_quantizer(wq.global_scale_binary, Binary(), max_examples=N).passed


def test_in_place_mutation_fails_determinism():
    report = verify_quantizer(wq.mutating_binary, Binary(), max_examples=N,
                              checks=["determinism", "membership"])
    c = _failed(report, "determinism")
    assert "modified its input" in c.detail
    assert report["membership"].status == "pass"


def test_raising_quantizer_fails_the_contract_check_with_a_minimal_input():
    report = verify_quantizer(wq.raising, Ternary(), max_examples=N)
    c = _failed(report, "contract")
    assert "only short vectors" in c.detail
    assert c.counterexample.size == 4  # raises on more than 3 entries: 4 is the minimal size
    with pytest.raises(QuantizerError, match="only short vectors"):
        wq_raise = QuantizerCaller(wq.raising, "numpy", "float64", None)
        wq_raise(c.counterexample)
    # the other checks ran on the inputs where it works (it is exact there)
    for name in ("membership", "optimality", "idempotence", "determinism"):
        assert report[name].status == "pass", report.table()
        assert "skipped: fn failed on them" in report[name].detail


def test_wrong_shape_and_tuple_outputs():
    bad = verify_quantizer(lambda w: w[:1], Binary(), max_examples=5)
    assert "shape" in _failed(bad, "contract").detail
    # (q, scale) tuples and Projection objects are accepted; a wrong scale breaks membership
    ok = verify_quantizer(lambda w: (project(w, Ternary()).q, project(w, Ternary()).scale),
                          Ternary(), max_examples=N, checks=["membership"])
    assert ok.passed, ok.table()
    bad = verify_quantizer(lambda w: (project(w, Ternary()).q, 2 * project(w, Ternary()).scale),
                           Ternary(), max_examples=N, checks=["membership"])
    assert bad["membership"].status == "FAIL"


def test_fixed_scale_set_skips_cone_checks():
    report = verify_quantizer(lambda w: project(w, Grid([-1, 0, 2])).q, Grid([-1, 0, 2]),
                              max_examples=N)
    assert report["orthogonality"].status == "skip"
    assert report["scale_equivariance"].status == "skip"
    assert report["sign_symmetry"].status == "skip"  # levels not symmetric
    assert report.passed


def test_report_is_json_and_deterministic():
    r1 = verify_quantizer(wq.twn_ternary, Ternary(), max_examples=N)
    r2 = verify_quantizer(wq.twn_ternary, Ternary(), max_examples=N)
    d1 = json.loads(json.dumps(r1.to_dict()))
    assert d1 == json.loads(json.dumps(r2.to_dict()))  # derandomized: reproducible
    assert [c["name"] for c in d1["checks"]] == list(CHECKS)
    assert d1["passed"] is False
    opt = {c["name"]: c for c in d1["checks"]}["optimality"]
    worst = np.array(opt["worst_input"], dtype=float)  # the input achieving the worst ratio
    assert np.sum((worst - wq.twn_ternary(worst)) ** 2) == pytest.approx(
        opt["figure"] * project(worst, Ternary()).dist2, rel=1e-9)
    assert "counterexample w = [" in r1.table()


@pytest.mark.parametrize("bad", [dict(axis=2), dict(backend="jax"), dict(checks=["nope"]),
                                 dict(max_examples=0)])
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        verify_quantizer(wq.exact_ternary, Ternary(), **bad)


def test_unknown_set_spec():
    with pytest.raises(ValueError, match="unknown quantization set"):
        verify_quantizer(wq.exact_ternary, "quaternary")
