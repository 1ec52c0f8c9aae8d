"""Bad input is refused with ValueError/TypeError naming the argument (table-driven)."""

from __future__ import annotations

import numpy as np
import pytest

from theory import (
    Binary,
    Grid,
    Symmetric,
    Ternary,
    Uniform,
    dist2,
    envelope_grad,
    moreau_envelope,
    parse_qset,
    project,
    prox,
)
from theory import approximate as A
from theory._validate import as_float_array, check_axis, check_int, check_positive_scalar

W = np.array([0.5, -1.0, 2.0])
W2 = np.ones((2, 3))

BAD_W = [
    (np.array([1.0, np.nan]), ValueError, "w must be finite"),
    (np.array([np.inf, 1.0]), ValueError, "w must be finite"),
    (np.array([-np.inf]), ValueError, "w must be finite"),
    (np.array([1e308, 1e308, -np.inf]), ValueError, "w must be finite"),  # sum overflows
    (np.array([]), ValueError, "w must be non-empty"),
    (np.zeros((3, 0)), ValueError, "w must be non-empty"),
    (np.array([1, 2, 3]), TypeError, "w must have a real floating dtype"),
    (np.array([1 + 2j]), TypeError, "w must have a real floating dtype"),
    (np.array([True, False]), TypeError, "w must have a real floating dtype"),
    (np.array([1.0, "a"], dtype=object), TypeError, "w must be a real floating-point array"),
    (None, TypeError, "w must be a real floating-point array"),
    ("1.0", TypeError, "w must be a real floating-point array"),
]

CALLS = {
    "project": lambda w: project(w, Ternary()),
    "project_fixed": lambda w: project(w, Uniform(3, scale=0.5)),
    "dist2": lambda w: dist2(w, Uniform(4)),
    "moreau_envelope": lambda w: moreau_envelope(w, Binary(), 1.0),
    "prox": lambda w: prox(w, Symmetric(2), 1.0),
    "envelope_grad": lambda w: envelope_grad(w, Ternary(), 1.0),
    "twn": A.twn,
    "binaryrelax_ternary": A.binaryrelax_ternary,
    "bcgd_fbit": A.bcgd_fbit,
    "lloyd": lambda w: A.lloyd(w, Uniform(3)),
    "parq_uniform": lambda w: A.parq_uniform(w, 2),
    "parq_lsbq_ternary": A.parq_lsbq_ternary,
}


@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
@pytest.mark.parametrize("w,exc,msg", BAD_W, ids=[f"{i}" for i in range(len(BAD_W))])
def test_bad_weights(call, w, exc, msg):
    with pytest.raises(exc, match=msg):
        CALLS[call](w)


BAD_OTHER = [
    (lambda: project(W, "ternary"), TypeError, "qset must be a theory.sets.QuantSet"),
    (lambda: project(W, None), TypeError, "qset must be"),
    (lambda: dist2(W, Ternary), TypeError, "qset must be"),
    (lambda: project(W, Ternary(), axis=1), ValueError, r"axis must lie in \[-1, 1\)"),
    (lambda: project(W2, Ternary(), axis=-3), ValueError, "axis must lie in"),
    (lambda: project(W2, Ternary(), axis=1.0), TypeError, "axis must be None or an int"),
    (lambda: project(W2, Ternary(), axis=True), TypeError, "axis must be None or an int"),
    (lambda: project(np.float64(1.0), Ternary(), axis=0), ValueError, "axis=0 needs an array"),
    (lambda: A.twn(W, axis=2), ValueError, "axis must lie in"),
    (lambda: moreau_envelope(W, Ternary(), 0.0), ValueError, "lam must be finite and > 0"),
    (lambda: moreau_envelope(W, Ternary(), -1.0), ValueError, "lam must be finite and > 0"),
    (lambda: prox(W, Ternary(), float("nan")), ValueError, "lam must be finite"),
    (lambda: prox(W, Ternary(), float("inf")), ValueError, "lam must be finite"),
    (lambda: envelope_grad(W, Ternary(), "1"), TypeError, "lam must be a real number"),
    (lambda: envelope_grad(W, Ternary(), True), TypeError, "lam must be a real number"),
    (lambda: Uniform(1), ValueError, r"bits must be an int in \[2, 16\]"),
    (lambda: Uniform(17), ValueError, "bits must be an int in"),
    (lambda: Uniform(4.0), TypeError, "bits must be an int"),
    (lambda: Uniform(True), TypeError, "bits must be an int"),
    (lambda: Symmetric(0), ValueError, r"bits must be an int in \[1, 16\]"),
    (lambda: Symmetric("2"), TypeError, "bits must be an int"),
    (lambda: Uniform(4, scale=0.0), ValueError, "scale must be finite and > 0"),
    (lambda: Uniform(4, scale=-1.0), ValueError, "scale must be finite and > 0"),
    (lambda: Ternary(scale=float("nan")), ValueError, "scale must be finite"),
    (lambda: Binary(scale=float("inf")), ValueError, "scale must be finite"),
    (lambda: Grid([-1, 1], scale="1"), TypeError, "scale must be a real number"),
    (lambda: Grid([]), ValueError, "levels must be non-empty"),
    (lambda: Grid([2, 1]), ValueError, "levels must be strictly increasing"),
    (lambda: Grid([1, 1, 2]), ValueError, "levels must be strictly increasing"),
    (lambda: Grid([[1, 2]]), ValueError, "levels must be one-dimensional"),
    (lambda: Grid([0.0, np.nan]), ValueError, "levels must be finite"),
    (lambda: Grid("0,1"), TypeError, "levels must be a sequence of reals"),
    (lambda: Grid(3.0), TypeError, "levels must be a sequence of reals"),
    (lambda: Grid([1j, 2j]), TypeError, "levels must be real numbers"),
    (lambda: Grid([0.0], scale=None), ValueError, "needs at least one non-zero level"),
    (lambda: parse_qset(4), TypeError, "spec must be a string"),
    (lambda: parse_qset("quaternary"), ValueError, "unknown quantization set"),
    (lambda: parse_qset("uniform:x"), ValueError, "needs an integer bit width"),
    (lambda: parse_qset("uniform:1"), ValueError, "bits must be an int in"),
    (lambda: parse_qset("ternary:3"), ValueError, "takes no parameter"),
    (lambda: parse_qset("uniform:4@-1"), ValueError, "must be finite and > 0"),
    (lambda: parse_qset("uniform:4@abc"), ValueError, "must be a number"),
    (lambda: parse_qset("grid:1,a"), ValueError, "comma-separated numbers"),
    (lambda: parse_qset("scaled:-1,1@2"), ValueError, "free scale"),
    (lambda: A.parq_uniform(W, 0), ValueError, "bits must be an int in"),
    (lambda: A.lloyd(W, Ternary(), iters=0), ValueError, "iters must be an int in"),
    (lambda: A.lloyd(W, "ternary"), TypeError, "qset must be"),
    (lambda: check_int(2.5, "k", 0, 3), TypeError, "k must be an int"),
    (lambda: check_positive_scalar(-0.0 - 1, "s"), ValueError, "s must be finite and > 0"),
    (lambda: check_axis(5, 2), ValueError, "axis must lie in"),
]


@pytest.mark.parametrize("call,exc,msg", BAD_OTHER, ids=[f"{i}" for i in range(len(BAD_OTHER))])
def test_bad_arguments(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_valid_edge_inputs_are_accepted():
    assert project(np.float64(-2.0), Ternary()).q.shape == ()
    assert project(np.array([[3.0]]), Binary(), axis=-1).q.shape == (1, 1)
    assert check_positive_scalar(0, "s", allow_zero=True) == 0.0
    big = np.array([1e308, 1e308])  # the finite-sum shortcut overflows; the full check passes
    assert as_float_array(big, "w") is big
    assert as_float_array(np.array([], dtype=np.float32), "w", allow_empty=True).size == 0
