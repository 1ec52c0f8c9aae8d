"""Tests of theory.symbolic: the sympy derivations reproduce the ICLR'19 STE submission's
Lemmas 1, 2, 5, 8 and the clipped-ReLU q closed form, wrong formulas are detected, and the
symbolic loss agrees numerically with the numpy implementation in theory.twolayer."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from theory import symbolic as S
from theory.twolayer import TwoLayerTeacher


def test_orthant_probability():
    assert sp.simplify(S.orthant_probability() - (sp.pi - S.theta) / (2 * sp.pi)) == 0


def test_check_all_residuals_vanish():
    res = S.check_all()
    assert set(res) == {"orthant_probability", "lemma1", "lemma2", "inner_products", "clipped_q"}
    for name, value in res.items():
        assert value <= 1e-30, name  # 0 when proved, else 40-digit evaluation


@pytest.mark.parametrize("m", [1, 2, 4])
def test_lemma1_symbolic_equals_paper(m):
    assert S.check_lemma1(m) == 0.0


def test_wrong_formulas_are_detected():
    derived, paper = S.lemma2_grad_w(2, 3)
    syms = sorted(derived.free_symbols | paper.free_symbols, key=str)
    assert S._max_residual(derived - 2 * paper, syms) > 1e-3
    wrong = S.lemma1_paper(2).subs(S.theta, S.theta / 2)
    assert sp.simplify(S.lemma1_loss(2) - wrong) != 0


def test_symbolic_loss_agrees_with_numpy_implementation():
    r = np.random.default_rng(4)
    m, n = 3, 4
    vs, v, ws, w = r.standard_normal(m), r.standard_normal(m), r.standard_normal(n), \
        r.standard_normal(n)
    teacher = TwoLayerTeacher(vs, ws)
    sub = {S.theta: teacher.theta(w)}
    sub.update({sp.Symbol(f"v{i + 1}", real=True): v[i] for i in range(m)})
    sub.update({sp.Symbol(f"s{i + 1}", real=True): vs[i] for i in range(m)})
    assert float(S.lemma1_loss(m).subs(sub)) == pytest.approx(teacher.loss(v, w), rel=1e-13)


def test_inner_products_match_paper_forms():
    vv, nw = sp.Symbol("vv", real=True), sp.Symbol("normw", real=True)
    paper_relu = sp.sin(S.theta) * vv**2 / (2 * (2 * sp.pi) ** sp.Rational(3, 2) * nw)
    assert sp.simplify(S.inner_product("relu") - paper_relu) == 0
    assert sp.simplify(S.inner_product("identity") - 2 * paper_relu) == 0
    with pytest.raises(ValueError, match="proxy"):
        S.coarse_grad_plane("clipped_relu")
