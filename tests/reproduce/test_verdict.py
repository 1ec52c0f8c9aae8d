"""Decision rules: known-difference and no-difference synthetic inputs must give the right
verdict; degenerate inputs are handled explicitly."""

import numpy as np
import pytest

from qopt.reproduce.comparison import Comparison, family_verdict
from qopt.reproduce.stats import paired_interval, t_interval
from qopt.reproduce.verdict import (
    INCONCLUSIVE,
    REFUTED,
    REPRODUCED,
    Verdict,
    agreement,
    bonferroni_z,
    combine,
    equivalent,
    greater,
    positive,
    smoke,
    within,
)


def seeds(values):
    return dict(enumerate(values))


def test_known_positive_difference_is_reproduced():
    rng = np.random.default_rng(0)
    b = rng.normal(0.80, 0.05, 8)
    a = b + 0.02 + rng.normal(0, 0.003, 8)  # A better by 2 points, shared seed noise
    c = Comparison("x", "A", "B", seeds(a), seeds(b))
    assert c.verdict().status == REPRODUCED
    assert Comparison("x", "B", "A", seeds(b), seeds(a)).verdict().status == REFUTED


def test_no_difference_is_inconclusive_not_refuted():
    # A and B identical in distribution: over many synthetic experiments the 'A > B' rule
    # reproduces or refutes each about 2.5% of the time and is inconclusive otherwise
    rng = np.random.default_rng(1)
    out = {REPRODUCED: 0, REFUTED: 0, INCONCLUSIVE: 0}
    for _ in range(2000):
        b = rng.normal(0.8, 0.05, 5)
        a = b + rng.normal(0, 0.01, 5)
        out[greater(paired_interval(a, b)).status] += 1
    assert out[INCONCLUSIVE] > 0.93 * 2000
    assert out[REPRODUCED] < 0.045 * 2000 and out[REFUTED] < 0.045 * 2000


def test_equivalence_rule():
    close = t_interval([0.001, -0.002, 0.0005, 0.0015, -0.001])  # |D| << 0.01
    far = t_interval([0.05, 0.06, 0.055, 0.052, 0.058])
    wide = t_interval([0.02, -0.03, 0.01, -0.02, 0.03])
    assert equivalent(close, 0.01).status == REPRODUCED
    assert equivalent(far, 0.01).status == REFUTED
    assert equivalent(wide, 0.01).status == INCONCLUSIVE
    with pytest.raises(ValueError, match="margin"):
        equivalent(close, 0.0)


def test_one_seed_is_always_inconclusive():
    iv = t_interval([0.3])
    assert greater(iv).status == INCONCLUSIVE and "one seed" in greater(iv).reason
    assert equivalent(iv, 1.0).status == INCONCLUSIVE
    c = Comparison("x", "A", "B", {0: 0.9}, {0: 0.1})
    assert c.verdict().status == INCONCLUSIVE
    assert family_verdict([c]).status == INCONCLUSIVE


def test_zero_spread_difference_decides_by_its_sign():
    assert greater(paired_interval([0.9, 0.8], [0.8, 0.7])).status == REPRODUCED
    assert greater(paired_interval([0.8, 0.7], [0.8, 0.7])).status == INCONCLUSIVE


def test_pairing_uses_common_seeds_and_reports_dropped():
    c = Comparison("x", "A", "B", {0: 0.9, 1: 0.8, 2: 0.85}, {0: 0.8, 1: 0.7, 3: 0.1})
    assert c.seeds() == [0, 1] and c.dropped() == [2, 3]
    assert c.interval().n == 2
    with pytest.raises(ValueError, match="no seed"):
        Comparison("x", "A", "B", {0: 1.0}, {1: 1.0}).interval()


def test_family_verdict_bonferroni_and_combination():
    rng = np.random.default_rng(2)
    b = rng.normal(0.8, 0.05, 6)
    good = Comparison("good", "A", "B", seeds(b + 0.05 + rng.normal(0, 0.002, 6)), seeds(b))
    bad = Comparison("bad", "A", "B", seeds(b - 0.05 + rng.normal(0, 0.002, 6)), seeds(b))
    null = Comparison("null", "A", "B", seeds(b + rng.normal(0, 0.02, 6)), seeds(b))
    info = Comparison("info", "A", "B", seeds(b), seeds(b), kind="describe")
    assert family_verdict([good, good, info]).status == REPRODUCED
    assert family_verdict([good, bad]).status == REFUTED
    assert family_verdict([good, null]).status == INCONCLUSIVE
    assert "Bonferroni" in family_verdict([good, null]).rule
    with pytest.raises(ValueError, match="at least one row"):
        family_verdict([info])
    # a row that passes at 95% but not at the Bonferroni level of 20 rows
    marginal = Comparison("m", "A", "B", seeds([0.031, 0.01, 0.02, 0.0, 0.04]),
                          seeds([0.0] * 5))
    assert marginal.verdict().status == REPRODUCED
    assert family_verdict([marginal] + [good] * 19).status == INCONCLUSIVE


def test_agreement_and_positive():
    assert bonferroni_z(1) == pytest.approx(1.959964, abs=1e-5)
    assert bonferroni_z(10) > bonferroni_z(1)
    assert agreement([0.3, -1.2, 2.1]).status == REPRODUCED
    assert agreement([0.3, 9.0]).status == REFUTED
    assert positive([0.5, 0.2], [0.01, 0.02]).status == REPRODUCED
    assert positive([0.5, 0.01], [0.01, 0.02]).status == INCONCLUSIVE
    assert positive([0.5, -0.2], [0.01, 0.02]).status == REFUTED
    with pytest.raises(ValueError, match="non-finite"):
        agreement([float("nan")])


def test_within_and_combine_and_smoke():
    assert within([1e-12, -3e-11], 1e-9, 1e-3).status == REPRODUCED
    assert within([1e-5], 1e-9, 1e-3).status == INCONCLUSIVE
    assert within([0.2], 1e-9, 1e-3).status == REFUTED
    r, f, i = (Verdict(s, "r", "x") for s in (REPRODUCED, REFUTED, INCONCLUSIVE))
    assert combine([r, r]).status == REPRODUCED
    assert combine([r, i]).status == INCONCLUSIVE
    assert combine([r, i, f]).status == REFUTED
    s = smoke(r)
    assert s.smoke and s.label == "reproduced (smoke run)" and combine([s, r]).smoke
    assert Verdict.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError):
        combine([])
    with pytest.raises(ValueError, match="status"):
        Verdict("maybe", "r", "x")


def test_no_violations_rule():
    from qopt.reproduce.verdict import no_violations

    assert no_violations(0, 500, 50).status == REPRODUCED
    assert no_violations(1, 500, 50).status == REFUTED
    assert no_violations(0, 10, 50).status == INCONCLUSIVE
    with pytest.raises(ValueError, match="exceed"):
        no_violations(5, 2, 1)
    with pytest.raises(ValueError, match="checked"):
        no_violations(0, -1, 1)
