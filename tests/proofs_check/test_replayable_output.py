"""Verifier output you can replay (issue 23): counterexamples printed at full precision (the
table and ``--json``), and a failed check's figure taken over its failing inputs only, never at
an input where both compared values are rounding noise."""

from __future__ import annotations

import ast
import json
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofs_check import verify_quantizer
from proofs_check.report import exact_float, format_array
from proofs_check.search import Measured, search
from theory import Ternary, project


@given(st.floats(allow_nan=False, width=64) | st.floats(allow_nan=False, width=32))
def test_exact_float_reads_back_exactly(v):
    text = exact_float(v)
    assert float(text) == v and (math.copysign(1, float(text)) == math.copysign(1, v))


def test_format_array_reads_back_bit_for_bit():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = (rng.standard_normal((3, 5)) * 10.0 ** rng.integers(-30, 30, (3, 5))).astype(dtype)
        back = np.array(ast.literal_eval(format_array(x)), dtype=dtype)
        assert back.tobytes() == x.tobytes()
    w = np.array([3.0727701187133789], dtype=np.float32)  # "3.07277" would not replay
    assert format_array(w) == "[3.072770118713379]"
    assert format_array(np.array([0.0, 1.0, -2.0])) == "[0, 1, -2]"
    assert format_array(np.array([1 / 3]), digits=6) == "[0.333333]"  # short form on request


def test_failed_figure_is_the_worst_over_failing_inputs():
    # input a: a huge ratio of two rounding-noise values that the check calls a tie (passes);
    # input b: a genuine failure with a smaller figure. The FAIL row must show b's figure.
    a, b = np.array([1e-31]), np.array([0.5, 1.0])

    def measure(w):
        if w.size == 1:
            return Measured(1e6, True)
        return Measured(2.0, False)

    res = search(st.just(b), measure, [a, b], max_examples=5)
    assert res.worst == 1e6 and res.worst_input.tolist() == a.tolist()
    assert res.worst_failing == 2.0 and res.worst_failing_input.tolist() == b.tolist()
    ok = search(st.just(a), measure, [a], max_examples=5)
    assert math.isnan(ok.worst_failing) and ok.worst_failing_input is None


def _twn(w):
    w = np.asarray(w, dtype=np.float64)
    delta = 0.7 * np.abs(w).mean()
    keep = np.abs(w) > delta
    scale = float(np.abs(w[keep]).mean()) if keep.any() else 0.0
    return np.where(keep, scale * np.sign(w), 0.0), scale


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_printed_counterexample_and_worst_input_replay(dtype):
    rep = verify_quantizer(_twn, Ternary(), max_examples=30, dtype=dtype, checks=["optimality"])
    c = rep["optimality"]
    assert c.status == "FAIL"
    assert "worst over the failing inputs only" in c.detail and "noise floor" in c.detail
    table = rep.table()
    cast = np.float32 if dtype == "float32" else np.float64
    r = float(rep.context["tolerance r"])
    d = json.loads(json.dumps(rep.to_dict()))["checks"][0]
    for label, key in (("counterexample w = ", "counterexample"), ("at w = ", "worst_input")):
        line = next(ln for ln in table.splitlines() if label in ln)
        text = line.split(label, 1)[1]
        if "items)" in text:  # a long input is cut in the table; --json holds every entry
            assert text.endswith("(every entry: --json)")
            w = np.array(d[key], dtype=cast).astype(np.float64)
        else:
            w = np.array(ast.literal_eval(text), dtype=cast).astype(np.float64)
        ratio = np.sum((w - _twn(w)[0]) ** 2) / project(w, Ternary()).dist2
        assert ratio > 1 + r, (label, w, ratio)  # the printed input fails again
        if label == "at w = ":  # and gives the printed worst figure
            shown = float(re.search(r"worst figure \(over the failing inputs\) (\S+)",
                                    line).group(1))
            assert ratio == pytest.approx(shown, rel=1e-5)
            assert ratio == pytest.approx(c.figure, rel=1e-12)
    for key in ("counterexample", "worst_input"):
        w = np.array(d[key], dtype=cast)
        assert w.tobytes() == np.asarray(c.counterexample if key == "counterexample" else
                                         c.extra["worst_input"], dtype=cast).tobytes()
