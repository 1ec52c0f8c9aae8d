r"""Symbolic (sympy) derivations of the two-layer model's closed forms.

Everything here starts from Gaussian integrals in polar coordinates of the plane spanned by two
unit vectors at angle θ and *derives* the statements of the STE paper (Yin et al. 2019b, read in its
ICLR 2019 submission; ``docs/math/two-layer-model.md``); each ``check_*`` compares the derivation
with the paper's (or our re-derived) formula and
returns the residual (0 when sympy proves equality; otherwise the largest absolute difference at
fixed rational points with 40-digit evaluation). :func:`check_all` runs all of them.

Derivation chain:

1. :func:`orthant_probability`: :math:`P(z^\top a > 0, z^\top b > 0) = \frac1{2\pi}
   \int_{\theta-\pi/2}^{\pi/2}d\varphi\int_0^\infty re^{-r^2/2}dr = \frac{\pi-\theta}{2\pi}`
   (the paper's starting fact, derived here).
2. :func:`lemma1_loss`: expanding :math:`\ell` for a concrete m, with
   :math:`E\sigma_i\sigma_j^{(*)} = 1/4` for i ≠ j (independent rows) and the orthant probability
   for i = j, gives Lemma 1 [paper]; :func:`check_lemma1`.
3. :func:`lemma2_grad_w`: differentiating Lemma 1 through :math:`\theta(w) = \arccos(\hat w^\top
   u)` for concrete n gives Lemma 2 [paper] for θ ∈ (0, π); :func:`check_lemma2`.
4. :func:`coarse_grad_plane`: E g_μ in the orthonormal pair (ŵ, e⊥) from the three plane integrals
   a, b, c (module :mod:`theory.twolayer`), for identity and ReLU; their inner products with
   ∂f/∂w give Lemmas 5 and 8 [paper]; :func:`check_inner_products`.
5. :func:`check_clipped_q`: the clipped-ReLU q(θ, ‖w‖) closed form of
   :func:`theory.twolayer.clipped_pq` from its Cartesian integral (derived here).
"""

from __future__ import annotations

import sympy as sp

from theory._validate import check_int

__all__ = [
    "check_all",
    "check_clipped_q",
    "check_inner_products",
    "check_lemma1",
    "check_lemma2",
    "coarse_grad_plane",
    "inner_product",
    "lemma1_loss",
    "lemma1_paper",
    "lemma2_grad_w",
    "orthant_probability",
]

theta = sp.Symbol("theta", positive=True)
r, phi = sp.symbols("r phi", real=True)
_PI = sp.pi


def _plane_moment(weight: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    r""":math:`\frac1{2\pi}\int_{lo}^{hi}\int_0^\infty g(r,\varphi)\,re^{-r^2/2}dr\,d\varphi`."""
    inner = sp.integrate(weight * r * sp.exp(-r**2 / 2), (r, 0, sp.oo))
    return sp.simplify(sp.integrate(inner, (phi, lo, hi)) / (2 * _PI))


def orthant_probability() -> sp.Expr:
    r""":math:`E[\sigma(z^\top a)\sigma(z^\top b)] = (\pi-\theta)/(2\pi)` for unit a, b at angle
    θ, z ~ N(0, I) [derived here: the half-planes {φ ∈ (-π/2, π/2)} and {φ ∈ (θ-π/2, θ+π/2)}
    intersect in an arc of length π - θ]."""
    return _plane_moment(sp.Integer(1), theta - _PI / 2, _PI / 2)


def _vec(name: str, k: int) -> sp.Matrix:
    return sp.Matrix(sp.symbols(f"{name}1:{k + 1}", real=True))


def lemma1_loss(m: int = 3) -> sp.Expr:
    r"""f(v, w) for concrete m, derived from the orthant probability [derived here]:
    :math:`f = \frac12\sum_{ij}(v_iv_jE\sigma_i\sigma_j - 2v_iv^*_jE\sigma_i\sigma^*_j +
    v^*_iv^*_jE\sigma^*_i\sigma^*_j)` with symbols v1..vm, s1..sm (= v*) and θ."""
    m = check_int(m, "m", 1, 12)
    v, vs = _vec("v", m), _vec("s", m)
    p_same = orthant_probability().subs(theta, 0)  # 1/2
    p_cross = orthant_probability()  # (pi - theta)/(2 pi)
    p_indep = sp.Rational(1, 4)
    f = sp.Integer(0)
    for i in range(m):
        for j in range(m):
            same = p_same if i == j else p_indep
            cross = p_cross if i == j else p_indep
            f += v[i] * v[j] * same - 2 * v[i] * vs[j] * cross + vs[i] * vs[j] * same
    return sp.expand(f / 2)


def lemma1_paper(m: int = 3) -> sp.Expr:
    r"""Lemma 1 as stated [paper, STE paper (Yin et al. 2019b), ICLR 2019 submission, Lemma 1;
    ``docs/math/two-layer-model.md#lemma-1``]:
    :math:`\frac18[v^\top(I+11^\top)v - 2v^\top((1-\frac{2\theta}\pi)I+11^\top)v^* +
    v^{*\top}(I+11^\top)v^*]`."""
    m = check_int(m, "m", 1, 12)
    v, vs = _vec("v", m), _vec("s", m)
    one = sp.ones(m, m)
    a = sp.eye(m) + one
    b = (1 - 2 * theta / _PI) * sp.eye(m) + one
    return sp.expand(((v.T * a * v)[0] - 2 * (v.T * b * vs)[0] + (vs.T * a * vs)[0]) / 8)


def check_lemma1(m: int = 3) -> float:
    """Residual |derived − paper| of Lemma 1 (0.0 when sympy proves them equal)."""
    return float(abs(sp.simplify(lemma1_loss(m) - lemma1_paper(m))))


def lemma2_grad_w(m: int = 2, n: int = 3) -> tuple[sp.Matrix, sp.Matrix]:
    r"""(∂f/∂w by sympy differentiation of Lemma 1 with θ = arccos(wᵀw*/(‖w‖‖w*‖)), Lemma 2's
    :math:`-\frac{v^\top v^*}{2\pi\|w\|}e_\perp`) as n-vectors in symbols w, t (= w*), v, s."""
    m, n = check_int(m, "m", 1, 12), check_int(n, "n", 2, 12)
    v, vs = _vec("v", m), _vec("s", m)
    w, ws = _vec("w", n), _vec("t", n)
    nw, nws = sp.sqrt((w.T * w)[0]), sp.sqrt((ws.T * ws)[0])
    cos_t = (w.T * ws)[0] / (nw * nws)
    f = lemma1_loss(m).subs(theta, sp.acos(cos_t))
    derived = sp.Matrix([sp.diff(f, wk) for wk in w])
    wh, u = w / nw, ws / nws
    perp = u - cos_t * wh
    e = perp / sp.sqrt(1 - cos_t**2)
    paper = -(v.T * vs)[0] / (2 * _PI * nw) * e
    return derived, paper


def _max_residual(diff: sp.Matrix | sp.Expr, symbols: list[sp.Symbol]) -> float:
    """Max |diff| at 3 fixed rational points (40 digits), after a cheap symbolic attempt."""
    exprs = list(diff) if isinstance(diff, sp.MatrixBase) else [diff]
    worst = 0.0
    for k in range(3):
        point = {s: sp.Rational((7 * i + 3 * k) % 11 - 5, 3 + k) or sp.Rational(1, 7)
                 for i, s in enumerate(symbols)}
        for ex in exprs:
            worst = max(worst, float(abs(sp.N(ex.subs(point), 40))))
    return worst


def check_lemma2(m: int = 2, n: int = 3) -> float:
    """Max |∂f/∂w (sympy) − Lemma 2| over fixed points with θ ∈ (0, π) (0 up to 1e-38)."""
    derived, paper = lemma2_grad_w(m, n)
    syms = sorted(derived.free_symbols | paper.free_symbols, key=str)
    return _max_residual(derived - paper, syms)


_NV2, _SV, _SVS, _VV, _NW = sp.symbols("nv2 sv svs vv normw", real=True)


def coarse_grad_plane(proxy: str) -> tuple[sp.Expr, sp.Expr]:
    r"""(α, β) with :math:`E g_\mu = \alpha\hat w + \beta e_\perp` for ``identity`` / ``relu``
    [derived here]: :math:`E g = \|v\|^2b + ((1^\top v)^2-\|v\|^2)\frac a2 - (v^\top v^*)c -
    ((1^\top v)(1^\top v^*)-v^\top v^*)\frac a2` with the plane moments
    :math:`a = E[z\mu'(z^\top w)]`, :math:`b = E[z\mu'\sigma(z^\top w)]`,
    :math:`c = E[z\mu'(z^\top w)\sigma(z^\top w^*)]`. Symbols: nv2 = ‖v‖², sv = 1ᵀv, svs = 1ᵀv*,
    vv = vᵀv*, θ."""
    half = (-_PI / 2, _PI / 2)
    star = (theta - _PI / 2, theta + _PI / 2)
    both = (theta - _PI / 2, _PI / 2)
    xy = (r * sp.cos(phi), r * sp.sin(phi))
    if proxy == "identity":
        a = (sp.Integer(0), sp.Integer(0))
        b = tuple(_plane_moment(g, *half) for g in xy)
        c = tuple(_plane_moment(g, *star) for g in xy)
    elif proxy == "relu":
        a = b = tuple(_plane_moment(g, *half) for g in xy)
        c = tuple(_plane_moment(g, *both) for g in xy)
    else:
        raise ValueError(f"proxy must be 'identity' or 'relu' here, got {proxy!r}")
    out = [_NV2 * b[k] + (_SV**2 - _NV2) * a[k] / 2 - _VV * c[k]
           - (_SV * _SVS - _VV) * a[k] / 2 for k in range(2)]
    return sp.simplify(out[0]), sp.simplify(out[1])


def inner_product(proxy: str) -> sp.Expr:
    r"""⟨E g_μ, ∂f/∂w⟩ [derived here] = β · (−vv/(2π‖w‖)), Lemma 2 giving ∂f/∂w ∥ e⊥."""
    return sp.simplify(coarse_grad_plane(proxy)[1] * (-_VV / (2 * _PI * _NW)))


def check_inner_products() -> float:
    r"""Max residual of the derived inner products against the paper's Lemma 8 (identity,
    :math:`\sin\theta(v^\top v^*)^2/((2\pi)^{3/2}\|w\|)`) and Lemma 5 (ReLU, half of it), and of
    α against the paper's ŵ-components of Lemmas 5 and 7."""
    paper_id = sp.sin(theta) * _VV**2 / ((2 * _PI) ** sp.Rational(3, 2) * _NW)
    h = _NV2 + _SV**2 - _SV * _SVS + _VV
    alpha_id = (_NV2 - _VV * sp.cos(theta)) / sp.sqrt(2 * _PI)
    alpha_relu = (h - _VV * (1 + sp.cos(theta))) / (2 * sp.sqrt(2 * _PI))
    res = [
        sp.simplify(inner_product("identity") - paper_id),
        sp.simplify(inner_product("relu") - paper_id / 2),
        sp.simplify(coarse_grad_plane("identity")[0] - alpha_id),
        sp.simplify(coarse_grad_plane("relu")[0] - alpha_relu),
    ]
    return max(float(abs(x)) if x.is_number else _max_residual(x, [theta, _NV2, _SV, _SVS, _VV,
                                                                      _NW]) for x in res)


def check_clipped_q() -> float:
    r"""Residual of :math:`q = \int_0^t\varphi(x)\varphi(x\cot\theta)dx` (sympy) against the
    closed form :math:`\frac{\sin\theta}{2\sqrt{2\pi}}\mathrm{erf}(\frac{t}{\sqrt2\sin\theta})`
    of :func:`theory.twolayer.clipped_pq`, θ ∈ (0, π/2) ∪ (π/2, π) at fixed points."""
    x = sp.Symbol("x", real=True)
    t = sp.Symbol("t", positive=True)
    k = sp.Symbol("k", real=True)
    phi_x = sp.exp(-x**2 / 2) / sp.sqrt(2 * _PI)
    q_int = sp.integrate(phi_x * phi_x.subs(x, k * x), (x, 0, t))
    q_int = q_int.subs(k, sp.cot(theta))
    closed = sp.sin(theta) / (2 * sp.sqrt(2 * _PI)) * sp.erf(t / (sp.sqrt(2) * sp.sin(theta)))
    worst = 0.0
    for th_v in (sp.Rational(1, 3), sp.Rational(5, 4), sp.Rational(11, 5), sp.Rational(3, 1)):
        for t_v in (sp.Rational(1, 10), sp.Integer(1), sp.Integer(7)):
            d = (q_int - closed).subs({theta: th_v, t: t_v})
            worst = max(worst, float(abs(sp.N(d, 40))))
    return worst


def check_all() -> dict[str, float]:
    """All residuals by name (each should be <= 1e-30; 0.0 when proved symbolically)."""
    return {
        "orthant_probability": float(abs(sp.simplify(orthant_probability()
                                                     - (_PI - theta) / (2 * _PI)))),
        "lemma1": check_lemma1(),
        "lemma2": check_lemma2(),
        "inner_products": check_inner_products(),
        "clipped_q": check_clipped_q(),
    }
