"""verify_theory: the registry covers the issue's claims, cheap claims hold, and claims FAIL
when the theory they check is broken (they are not tautologies)."""

from __future__ import annotations

import numpy as np
import pytest

import proofs_check.descent as descent
from proofs_check.brute import brute_dist2, brute_project
from proofs_check.claims import CLAIMS, Outcome, claim, verify_theory
from theory import Binary, Grid, Ternary, Uniform, project

EXPECTED = {"projection_exact", "cone_orthogonality", "prox_closed_form",
            "bcgd_sufficient_descent", "lemma1_symbolic", "lemma1_monte_carlo", "lemma2_symbolic",
            "lemma2_finite_differences", "coarse_gradients_monte_carlo",
            "coarse_inner_products_symbolic", "positive_correlation", "prop1_stationary_points",
            "identity_ste_spurious", "uniq_gaussian_steps", "bcgd_gaussian_steps"}
CHEAP = ["projection_exact", "cone_orthogonality", "bcgd_sufficient_descent",
         "lemma2_finite_differences", "positive_correlation", "prop1_stationary_points",
         "bcgd_gaussian_steps"]


def test_registry_covers_the_issue_claims():
    verify_theory(only=["cone_orthogonality"])  # loads every claim module
    assert EXPECTED <= set(CLAIMS)
    for c in CLAIMS.values():
        assert c.source and c.method and c.statement


def test_cheap_claims_hold():
    rep = verify_theory(only=CHEAP)
    assert rep.passed, rep.table()
    assert [c.name for c in rep.checks] == CHEAP
    assert rep["bcgd_sufficient_descent"].figure <= 1e-12  # max normalised gap: <= 0 + rounding


@pytest.mark.slow
def test_every_claim_holds():
    rep = verify_theory()
    assert rep.passed, rep.table()
    assert len(rep.checks) == len(CLAIMS)


def test_brute_force_oracle_small_cases():
    # ternary [1, 2]: best is both kept at 1.5 (error 0.5), not TWN's [0, 2] (error 1)
    d, q = brute_project(np.array([1.0, 2.0]), Ternary())
    assert d == pytest.approx(0.5) and np.allclose(q, [1.5, 1.5])
    assert brute_dist2(np.array([0.4, -0.6]), Grid([-1, 0, 1])) == pytest.approx(0.16 + 0.16)
    assert brute_dist2(np.array([3.0, 1.0]), Binary()) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="too many"):
        brute_dist2(np.ones(20), Uniform(4))


def test_descent_claim_detects_an_inexact_projection(monkeypatch):
    class Shrunk:
        def __init__(self, w, qset):
            self.q = 0.7 * project(w, qset).q

    monkeypatch.setattr(descent, "project", Shrunk)
    st = descent.sufficient_descent(trials=10, steps=30)
    assert st.violations > 0 and st.worst > 1e-3


def test_descent_check_validates_arguments():
    A = np.eye(3)
    with pytest.raises(ValueError, match="rho"):
        descent.bcgd_descent_check(A, np.zeros(3), Binary(), 1.5, 0.1, np.ones(3), 5)
    with pytest.raises(ValueError, match="symmetric"):
        descent.bcgd_descent_check(np.ones((3, 2)), np.zeros(3), Binary(), 0.5, 0.1,
                                   np.ones(3), 5)


def test_crashing_claim_is_reported_failed():
    @claim("_test_crash", "a claim whose check raises", "tests", "none")
    def _crash() -> Outcome:
        raise ZeroDivisionError("boom")

    try:
        rep = verify_theory(only=["_test_crash"])
        assert not rep.passed
        assert "ZeroDivisionError: boom" in rep["_test_crash"].detail
    finally:
        CLAIMS.pop("_test_crash")


def test_projection_claim_detects_a_wrong_projection(monkeypatch):
    import proofs_check.claims_sets as cs

    class Off:
        def __init__(self, p):
            self.q, self.dist2 = p.q, p.dist2 * (1 + 1e-6) + 1e-9

    real = cs.project
    monkeypatch.setattr(cs, "project", lambda w, s, axis=None: Off(real(w, s, axis)))
    assert not verify_theory(only=["projection_exact"]).passed
