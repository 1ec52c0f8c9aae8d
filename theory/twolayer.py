r"""The two-linear-layer Gaussian model of the STE theory, in closed form (float64).

Source: the **ICLR 2019 double-blind submission** of the STE paper ("Understanding straight-through
estimator in training activation quantized neural nets", openreview Skh4jRcKQ; Yin et al. 2019b);
``docs/math/two-layer-model.md``. Statements tagged *[paper, Lemma k]* are that submission's;
statements tagged *[derived here]* were derived for this module and carry their check (test file
``tests/theory/test_twolayer.py`` and :mod:`theory.symbolic`).

**Model.** :math:`Z \in \mathbb R^{m\times n}` with i.i.d. N(0,1) entries,
:math:`y = v^\top\sigma(Zw)` with :math:`\sigma(x) = 1\{x>0\}`, teacher
:math:`y^* = v^{*\top}\sigma(Zw^*)`, :math:`\ell = \tfrac12(y - y^*)^2`,
:math:`f(v,w) = E_Z\,\ell`. Notation: :math:`\hat w = w/\|w\|`, :math:`u = w^*/\|w^*\|`,
:math:`\theta = \angle(w, w^*)`,
:math:`e_\perp = (I-\hat w\hat w^\top)u/\|(I-\hat w\hat w^\top)u\|`,
:math:`h = \|v\|^2 + (1^\top v)^2 - (1^\top v)(1^\top v^*) + v^\top v^*`.

**Scale of w\* (decision, derived here).** :math:`\sigma(Zcw^*) = \sigma(Zw^*)` for every c > 0,
so ℓ, f, ∂ℓ/∂v, **and every coarse gradient** :math:`g_\mu = Z^\top(\mu'(Zw)\odot v)(y - y^*)`
depend on w\* only through its direction u (the proxy μ' is evaluated at Zw, never at Zw\*). The
class therefore accepts any non-zero w\* and uses u internally: nothing depends on
:math:`\|w^*\|` (tested bit-for-bit). What is *not* scale invariant is the clipped-ReLU coarse
gradient in **w**: it depends on :math:`\|w\|` through p(θ,‖w‖), q(θ,‖w‖)
(:mod:`theory.clipped_relu`, re-exported here).

**Kinks θ ∈ {0, π} (derived here).** For w ≠ 0, f depends on w only through
θ, :math:`f = C(v) + \theta\,v^\top v^*/(2\pi)`, and θ(w) behaves like a norm of the
component of a perturbation orthogonal to w: :math:`\theta(w+td) = t\|(I-\hat w\hat w^\top)d\|/\|w\|
+ o(t)` at θ = 0 and :math:`\pi - t\|(I-\hat w\hat w^\top)d\|/\|w\| + o(t)` at θ = π. Hence, unless
:math:`v^\top v^* = 0`, f is **not differentiable in w** at θ ∈ {0, π}; its one-sided directional
derivative is :math:`\pm\frac{v^\top v^*}{2\pi\|w\|}\|(I-\hat w\hat w^\top)d\|` (+ at 0, − at π),
its Clarke subdifferential in w is the ball :math:`\{\frac{|v^\top v^*|}{2\pi\|w\|} g : g\perp\hat
w, \|g\|\le1\}`, whose minimum-norm element is 0, and Lemma 2's formula has no limit (e⊥ is
undefined, the magnitude :math:`|v^\top v^*|/(2\pi\|w\|)` does not vanish). :meth:`grad` returns
that minimum-norm element (0) by default, or raises with ``at_kink="raise"``;
:meth:`directional_derivative` is exact everywhere. Lemma 2 holds for θ ∈ (0, π). A point is
treated as a kink when :math:`\|(I-\hat w\hat w^\top)u\| \le` :data:`KINK_TOL` (rounding level).

**Float range (derived here).** Directions are computed after an exact power-of-two rescaling,
:math:`\hat x = (2^{-k}x)/\|2^{-k}x\|` with :math:`2^{k-1} \le \max_i|x_i| < 2^k`, so w\* and w
may have any non-zero finite entries, from the smallest subnormal to the largest finite value:
no square under- or overflows, and for x in the normal range the result is bit-for-bit the one
of the plain formula (scaling by a power of two is exact). The factor 1/‖w‖ of the gradients is
:math:`2^{-k}/\|2^{-k}w\|`, representable even where ‖w‖ itself overflows. Monte Carlo uses
the rescaled w and the threshold :math:`2^{-k}` of the clipped ReLU (same comparisons, exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory._validate import as_float_array, check_int, check_positive_scalar
from theory.clipped_relu import KINK_TOL, clipped_pq, clipped_pq_paper_quad
from theory.proxies import check_proxy

__all__ = [
    "KINK_TOL",
    "SampleStats",
    "StationaryPoints",
    "Trajectory",
    "TwoLayerTeacher",
    "clipped_pq",
    "clipped_pq_paper_quad",
]

_SQ2PI = np.sqrt(2.0 * np.pi)
_PHI0 = 1.0 / _SQ2PI


@dataclass(frozen=True)
class SampleStats:
    """Monte Carlo means and standard errors (SE = sample std / sqrt(N)) from :meth:`sample`.

    Attributes: ``n_samples``; ``loss``/``loss_se`` (ℓ); ``grad_v``/``grad_v_se`` (∂ℓ/∂v, shape
    (m,)); ``coarse_w``/``coarse_w_se`` (g_μ, shape (n,)).
    """

    n_samples: int
    loss: float
    loss_se: float
    grad_v: np.ndarray
    grad_v_se: np.ndarray
    coarse_w: np.ndarray
    coarse_w_se: np.ndarray


@dataclass(frozen=True)
class StationaryPoints:
    r"""The landscape of Proposition 1 [paper, ICLR'19 STE submission, Prop. 1;
    ``docs/math/two-layer-model.md#proposition-1``].

    Attributes:
        condition: :math:`(1^\top v^*)^2 < \frac{m+1}{2}\|v^*\|^2` (saddles and spurious minima
            exist iff it holds; saddles additionally need n >= 2, see ``saddle_theta``).
        saddle_v, saddle_theta: the saddle value of v and the angle θ_s (None if absent); every
            w with θ(w, w*) = θ_s is a saddle; ``saddle_w`` is one unit such w.
        spurious_v, spurious_w: the spurious local minimizers v and w = -u (θ = π; w may be
            scaled by any c > 0), or None.
        global_v, global_w: v*, u (θ = 0, f = 0).
    """

    condition: bool
    saddle_v: np.ndarray | None
    saddle_theta: float | None
    saddle_w: np.ndarray | None
    spurious_v: np.ndarray | None
    spurious_w: np.ndarray | None
    global_v: np.ndarray
    global_w: np.ndarray


@dataclass(frozen=True)
class Trajectory:
    """Iterates of :meth:`TwoLayerTeacher.coarse_gradient_descent` (row k = after k steps).

    Attributes: ``loss`` f, ``theta``, ``norm_w`` (shape (steps+1,)); ``v`` (steps+1, m);
    ``w`` (steps+1, n).
    """

    loss: np.ndarray
    theta: np.ndarray
    norm_w: np.ndarray
    v: np.ndarray
    w: np.ndarray


def _split(x: np.ndarray) -> tuple[np.ndarray, int]:
    """(2^-k x, k) with 2^(k-1) <= max|x| < 2^k (exact: a power-of-two rescaling); (x, 0) for
    x = 0."""
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top == 0.0:
        return x, 0
    k = int(np.frexp(top)[1])
    return np.ldexp(x, -k), k


def _norm(x: np.ndarray) -> float:
    """||x|| without spurious under- or overflow (inf only if the norm exceeds the range)."""
    y, k = _split(np.asarray(x, dtype=np.float64))
    return float(np.ldexp(np.linalg.norm(y), k))


def _teacher_vec(x: object, name: str, dim_name: str) -> np.ndarray:
    arr = as_float_array(x, name, allow_empty=True)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d vector of length {dim_name} >= 1, got shape "
                         f"{arr.shape}")
    if arr.size < 1:
        raise ValueError(f"{name} must have {dim_name} >= 1 entries, got 0")
    return arr.astype(np.float64)


class TwoLayerTeacher:
    r"""Teacher (v*, w*) of the two-linear-layer model; m = len(v*), n = len(w*).

    Every method documents its source: *[paper, Lemma k]* = the ICLR'19 STE submission (Yin et al.
    2019b; ``docs/math/two-layer-model.md``), *[derived here]* = this module (with its check). w*
    may have any non-zero norm (see the module docstring: nothing depends on ‖w*‖).
    """

    def __init__(self, v_star: np.ndarray, w_star: np.ndarray) -> None:
        self.v_star = _teacher_vec(v_star, "v_star", "m")
        self.w_star = _teacher_vec(w_star, "w_star", "n")
        if not np.any(self.w_star):
            raise ValueError("w_star must be non-zero (the teacher direction w*/||w*|| is needed)")
        y, _ = _split(self.w_star)
        self.u = y / np.linalg.norm(y)
        self.m, self.n = self.v_star.size, self.w_star.size
        self._a = np.eye(self.m) + np.ones((self.m, self.m))  # I + 11^T

    # ------------------------------------------------------------------ helpers
    def _v(self, v: object, name: str = "v") -> np.ndarray:
        arr = as_float_array(v, name).astype(np.float64)
        if arr.shape != (self.m,):
            raise ValueError(f"{name} must have shape (m,) = ({self.m},), got {arr.shape}")
        return arr

    def _w(self, w: object, name: str = "w", *, nonzero: bool) -> np.ndarray:
        arr = as_float_array(w, name).astype(np.float64)
        if arr.shape != (self.n,):
            raise ValueError(f"{name} must have shape (n,) = ({self.n},), got {arr.shape}")
        if nonzero and not np.any(arr):
            raise ValueError(f"{name} must be non-zero here (the formula needs w/||w||); "
                             "the loss alone is defined at w = 0")
        return arr

    def _geometry(self, w: np.ndarray) -> tuple[float, np.ndarray, float, np.ndarray, bool]:
        """(1/||w||, ŵ, θ, e⊥, kink) with θ = atan2(||u⊥||, ŵᵀu) (accurate near 0 and π); ŵ
        and 1/||w|| by the exact power-of-two rescaling of the module docstring (1/||w|| is
        representable even where ||w|| overflows)."""
        y, k = _split(w)
        ny = float(np.linalg.norm(y))
        with np.errstate(over="ignore"):
            inv = float(np.ldexp(1.0 / ny, -k))
        wh = y / ny
        c = float(wh @ self.u)
        perp = self.u - c * wh
        perp -= float(wh @ perp) * wh  # second Gram-Schmidt pass
        s = float(np.linalg.norm(perp))
        if s <= KINK_TOL:  # w parallel to +-w*: theta snapped to exactly 0 or pi
            return inv, wh, (0.0 if c > 0 else float(np.pi)), np.zeros(self.n), True
        return inv, wh, float(np.arctan2(s, c)), perp / s, False

    def theta(self, w: np.ndarray) -> float:
        """The angle θ(w, w*) in [0, π] (computed with atan2, accurate near 0 and π)."""
        return self._geometry(self._w(w, nonzero=True))[2]

    # ------------------------------------------------------------------ population loss
    def loss(self, v: np.ndarray, w: np.ndarray) -> float:
        r"""f(v,w) [paper, Lemma 1]: :math:`\frac18[v^\top(I+11^\top)v - 2v^\top((1-\frac{2\theta}
        {\pi})I+11^\top)v^* + v^{*\top}(I+11^\top)v^*]` for w ≠ 0, and
        :math:`f(v,0) = \frac18 v^{*\top}(I+11^\top)v^*` (σ(0) = 0 so y = 0). Derived
        symbolically from the orthant probability in :func:`theory.symbolic.lemma1_loss`."""
        v, w = self._v(v), self._w(w, nonzero=False)
        vs, a = self.v_star, self._a
        if not np.any(w):
            return float(vs @ a @ vs) / 8.0
        th = self._geometry(w)[2]
        cross = (1.0 - 2.0 * th / np.pi) * float(v @ vs) + float(v.sum() * vs.sum())
        return (float(v @ a @ v) - 2.0 * cross + float(vs @ a @ vs)) / 8.0

    def grad(self, v: np.ndarray, w: np.ndarray, *,
             at_kink: str = "clarke") -> tuple[np.ndarray, np.ndarray]:
        r"""(∂f/∂v, ∂f/∂w) [paper, Lemma 2, θ ∈ (0, π)]:
        :math:`\partial_v f = \frac14(I+11^\top)v - \frac14((1-\frac{2\theta}\pi)I+11^\top)v^*`,
        :math:`\partial_w f = -\frac{v^\top v^*}{2\pi\|w\|}e_\perp`.

        ∂f/∂v holds for every w ≠ 0 (f is smooth in v). At θ ∈ {0, π} [derived here, module
        docstring] f is not differentiable in w unless vᵀv* = 0: ``at_kink="clarke"`` returns the
        minimum-norm Clarke subgradient 0, ``"raise"`` raises ``ValueError``. w = 0 raises.
        """
        if at_kink not in ("clarke", "raise"):
            raise ValueError(f"at_kink must be 'clarke' or 'raise', got {at_kink!r}")
        v, w = self._v(v), self._w(w, nonzero=True)
        inv, _, th, e, kink = self._geometry(w)
        vs = self.v_star
        gv = (self._a @ v - ((1.0 - 2.0 * th / np.pi) * vs + vs.sum())) / 4.0
        vv = float(v @ vs)
        if kink:
            if at_kink == "raise" and vv != 0.0:
                raise ValueError(f"f is not differentiable in w at theta={th:.3g} (w parallel to "
                                 "w*) with v.v* != 0; use at_kink='clarke' or "
                                 "directional_derivative")
            return gv, np.zeros(self.n)
        return gv, -vv / (2.0 * np.pi) * inv * e

    def directional_derivative(self, v: np.ndarray, w: np.ndarray, dv: np.ndarray,
                               dw: np.ndarray) -> float:
        r"""One-sided derivative :math:`\lim_{t\downarrow0}(f(v+t\,dv, w+t\,dw)-f(v,w))/t`,
        exact for every w ≠ 0 [derived here from Lemma 1:
        :math:`f = C(v)+\theta v^\top v^*/(2\pi)`; at θ = 0 / π the w-part is
        :math:`\pm\frac{v^\top v^*}{2\pi\|w\|}\|(I-\hat w\hat w^\top)dw\|`;
        checked against one-sided finite differences]."""
        v, w = self._v(v), self._w(w, nonzero=True)
        dv, dw = self._v(dv, "dv"), self._w(dw, "dw", nonzero=False)
        inv, wh, th, e, kink = self._geometry(w)
        gv, gw = self.grad(v, w)
        out = float(gv @ dv)
        if not kink:
            return out + float(gw @ dw)
        sign = 1.0 if th < np.pi / 2 else -1.0
        d_perp = _norm(dw - float(wh @ dw) * wh)
        return out + sign * float(v @ self.v_star) / (2.0 * np.pi) * inv * d_perp

    # ------------------------------------------------------------------ coarse gradients
    def _coarse_components(self, v: np.ndarray, w: np.ndarray,
                           proxy: str) -> tuple[float, float, np.ndarray, np.ndarray, float]:
        """E g_μ = α ŵ + β e⊥; returns (α, β, ŵ, e⊥, 1/||w||)."""
        inv, wh, th, e, _ = self._geometry(w)
        vs = self.v_star
        vv, nv2 = float(v @ vs), float(v @ v)
        sv, svs = float(v.sum()), float(vs.sum())
        h = nv2 + sv * sv - sv * svs + vv
        s, c = np.sin(th), np.cos(th)
        if proxy == "identity":
            alpha, beta = (nv2 - vv * c) / _SQ2PI, -vv * s / _SQ2PI
        elif proxy == "relu":
            alpha = (h - vv * (1.0 + c)) / (2.0 * _SQ2PI)
            beta = -vv * s / (2.0 * _SQ2PI)
        else:
            big = np.finfo(np.float64).max  # clipped_pq needs a finite, non-zero ||w||
            with np.errstate(divide="ignore", over="ignore"):  # limits at the range's ends
                nw = 1.0 / inv
                p, q = clipped_pq(th, min(max(nw, 1.0 / big), big))
            p0 = -np.expm1(-0.5 * inv * inv) * _PHI0
            alpha, beta = 0.5 * h * p0 - vv * p, -vv * q
        return float(alpha), float(beta), wh, e, inv

    def expected_coarse_grad(self, v: np.ndarray, w: np.ndarray,
                             proxy: str) -> tuple[np.ndarray, np.ndarray]:
        r"""(E ∂ℓ/∂v, E g_μ) for :math:`g_\mu = Z^\top(\mu'(Zw)\odot v)(v^\top\sigma(Zw) - y^*)`.

        * E ∂ℓ/∂v = ∂f/∂v exactly [paper, Lemma 4].
        * identity: :math:`E g = (\|v\|^2\hat w - (v^\top v^*)u)/\sqrt{2\pi}` [paper, Lemma 7];
        * relu: :math:`E g = \frac{h}{2\sqrt{2\pi}}\hat w
          - \frac{v^\top v^*}{2\sqrt{2\pi}}(\hat w+u)`
          [paper, Lemma 5, with :math:`\cos(\theta/2)(\hat w+u)/\|\hat w+u\| = (\hat w+u)/2`];
        * clipped_relu:
          :math:`E g = \frac h2 p(0,w)\hat w - (v^\top v^*)(p\,\hat w + q\,e_\perp)`
          (derived here, ``docs/math/two-layer-model.md#clipped-relu-ste``: for any proxy
          :math:`E g = \|v\|^2 b + ((1^\top v)^2-\|v\|^2)\frac a2 - (v^\top v^*)c -
          ((1^\top v)(1^\top v^*) - v^\top v^*)\frac a2` with :math:`a = E[z\mu'(z^\top w)]`,
          :math:`b = E[z\mu'\sigma(z^\top w)]`, :math:`c = E[z\mu'\sigma(z^\top u)]`; checked by
          Monte Carlo). p, q from :func:`clipped_pq`.

        Valid for all w ≠ 0 including θ ∈ {0, π} (the e⊥ terms carry a factor sin θ or q = 0).
        """
        v, w = self._v(v), self._w(w, nonzero=True)
        proxy = check_proxy(proxy)
        alpha, beta, wh, e, _ = self._coarse_components(v, w, proxy)
        return self.grad(v, w)[0], alpha * wh + beta * e

    def coarse_correlation(self, v: np.ndarray, w: np.ndarray, proxy: str) -> float:
        r"""⟨E g_μ, ∂f/∂w⟩ [paper, Lemmas 5 and 8; clipped: derived here,
        ``docs/math/two-layer-model.md#correlation``]:
        identity :math:`\frac{\sin\theta(v^\top v^*)^2}{(2\pi)^{3/2}\|w\|}`, relu half of that,
        clipped :math:`\frac{q(\theta,w)(v^\top v^*)^2}{2\pi\|w\|}`; computed exactly as β·γ in
        the orthonormal pair (ŵ, e⊥), never by a cancelling dot product. 0 at θ ∈ {0, π}
        (∂f/∂w taken as its minimum-norm Clarke subgradient 0)."""
        v, w = self._v(v), self._w(w, nonzero=True)
        proxy = check_proxy(proxy)
        _, beta, _, _, inv = self._coarse_components(v, w, proxy)
        kink = self._geometry(w)[4]
        gamma = 0.0 if kink else -float(v @ self.v_star) / (2.0 * np.pi) * inv
        return beta * gamma

    def coarse_cosine(self, v: np.ndarray, w: np.ndarray, proxy: str) -> float:
        r"""cos∠(E g_μ, ∂f/∂w) = sign(βγ)|β|/√(α²+β²) [derived here from the same decomposition];
        ``nan`` when either vector is zero (e.g. vᵀv* = 0 or θ ∈ {0, π})."""
        v, w = self._v(v), self._w(w, nonzero=True)
        proxy = check_proxy(proxy)
        alpha, beta, _, _, _ = self._coarse_components(v, w, proxy)
        kink = self._geometry(w)[4]
        gamma = 0.0 if kink else -float(v @ self.v_star)
        norm_g = float(np.hypot(alpha, beta))
        if gamma == 0.0 or norm_g == 0.0:
            return float("nan")
        return float(np.sign(beta * gamma)) * abs(beta) / norm_g

    # ------------------------------------------------------------------ Monte Carlo
    def sample(self, v: np.ndarray, w: np.ndarray, proxy: str, n_samples: int,
               rng: np.random.Generator, *, chunk_size: int | None = None) -> SampleStats:
        r"""Unbiased Monte Carlo of ℓ, ∂ℓ/∂v = σ(Zw)(y - y*) and g_μ over ``n_samples`` i.i.d.
        draws of Z (definitions of ``docs/math/two-layer-model.md#model``; w = 0 allowed).
        Vectorised in chunks of ``chunk_size`` draws (default ~2^20 normals per chunk): Zw and Zw*
        by one GEMM, g_μ by one einsum; shifted sums give the means and the standard errors."""
        v, w = self._v(v), self._w(w, nonzero=False)
        proxy = check_proxy(proxy)
        n_samples = check_int(n_samples, "n_samples", 1, 10**12)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        m, n = self.m, self.n
        if chunk_size is None:
            chunk_size = max(1, (1 << 20) // (m * n))
        chunk_size = check_int(chunk_size, "chunk_size", 1, 10**9)
        y, k = _split(w)  # sigma(Zw) = sigma(Zy); 0 < Zw <= 1 iff 0 < Zy <= 2^-k (exactly)
        wu = np.stack([y, self.u], axis=1)
        with np.errstate(over="ignore"):
            one = float(np.ldexp(1.0, -k))
        dim = 1 + m + n
        shift = s1 = s2 = None
        done = 0
        while done < n_samples:
            c = min(chunk_size, n_samples - done)
            z = rng.standard_normal((c, m, n))
            proj = (z.reshape(c * m, n) @ wu).reshape(c, m, 2)
            act = proj[:, :, 0] > 0
            r = act @ v - (proj[:, :, 1] > 0) @ self.v_star
            if proxy == "identity":
                coef = v * r[:, None]
            elif proxy == "relu":
                coef = act * (v * r[:, None])
            else:
                coef = (act & (proj[:, :, 0] <= one)) * (v * r[:, None])
            vals = np.empty((c, dim))
            vals[:, 0] = 0.5 * r * r
            vals[:, 1:1 + m] = act * r[:, None]
            vals[:, 1 + m:] = np.einsum("cmn,cm->cn", z, coef)
            if shift is None:
                shift = vals.mean(axis=0)
                s1, s2 = np.zeros(dim), np.zeros(dim)
            d = vals - shift
            s1 += d.sum(axis=0)
            s2 += np.einsum("ij,ij->j", d, d)
            done += c
        mean_d = s1 / n_samples
        mean = shift + mean_d
        if n_samples > 1:
            var = np.maximum(s2 - n_samples * mean_d * mean_d, 0.0) / (n_samples - 1)
            se = np.sqrt(var / n_samples)
        else:
            se = np.full(dim, np.inf)
        return SampleStats(n_samples, float(mean[0]), float(se[0]), mean[1:1 + m],
                           se[1:1 + m], mean[1 + m:], se[1 + m:])

    # ------------------------------------------------------------------ landscape and descent
    def stationary_points(self) -> StationaryPoints:
        r"""Proposition 1 [paper, ICLR'19 STE submission; θ_s and vᵀv* = 0 re-derived
        here; ``docs/math/two-layer-model.md#proposition-1``]. With S = 1ᵀv*, N = ‖v*‖²: if
        :math:`S^2 < \frac{m+1}2N`, the saddles are
        :math:`v = (I+11^\top)^{-1}(-\frac{S^2}{(m+1)N-S^2}I + 11^\top)v^*`, θ_s =
        :math:`\frac\pi2\frac{(m+1)N}{(m+1)N-S^2}` (need n >= 2) and the spurious minimizers
        θ = π, :math:`v = (I+11^\top)^{-1}(11^\top - I)v^*`; otherwise neither exists.
        Derivation: ∂f/∂v = 0 gives v = c v* + (1-c)S/(m+1)·1 with c = 1 - 2θ/π, and ∂f/∂w = 0
        (θ ∈ (0,π)) needs vᵀv* = cN + (1-c)S²/(m+1) = 0. Checked: the gradients vanish there.
        """
        m, vs = self.m, self.v_star
        big_s, big_n = float(vs.sum()), float(vs @ vs)
        cond = big_s * big_s < 0.5 * (m + 1) * big_n
        ones = np.ones(m)

        def v_of(c: float) -> np.ndarray:
            return c * vs + (1.0 - c) * big_s / (m + 1) * ones

        sad_v = sad_th = sad_w = sp_v = sp_w = None
        if cond:
            denom = (m + 1) * big_n - big_s * big_s
            sp_v, sp_w = v_of(-1.0), -self.u
            if self.n >= 2:
                sad_v = v_of(-big_s * big_s / denom)
                sad_th = 0.5 * np.pi * (m + 1) * big_n / denom
                k = int(np.argmin(np.abs(self.u)))
                e = np.eye(self.n)[k] - self.u[k] * self.u
                e /= np.linalg.norm(e)
                sad_w = np.cos(sad_th) * self.u + np.sin(sad_th) * e
        return StationaryPoints(bool(cond), sad_v, sad_th, sad_w, sp_v, sp_w, vs.copy(),
                                self.u.copy())

    def coarse_gradient_descent(self, v0: np.ndarray, w0: np.ndarray, proxy: str, lr: float,
                                steps: int) -> Trajectory:
        r"""Full-batch coarse gradient descent [paper, Algorithm 1]:
        :math:`v \leftarrow v - \eta\,E[\partial\ell/\partial v]`,
        :math:`w \leftarrow w - \eta\,E[g_\mu]` with the closed forms of
        :meth:`expected_coarse_grad`. Raises ``ValueError`` if an iterate hits w = 0 exactly."""
        v, w = self._v(v0, "v0"), self._w(w0, "w0", nonzero=True)
        proxy = check_proxy(proxy)
        lr = check_positive_scalar(lr, "lr")
        steps = check_int(steps, "steps", 0, 10**7)
        vs_, ws_ = [v.copy()], [w.copy()]
        for k in range(steps):
            if not np.any(w):
                raise ValueError(f"coarse gradient descent reached w = 0 at step {k}")
            gv, gw = self.expected_coarse_grad(v, w, proxy)
            v, w = v - lr * gv, w - lr * gw
            vs_.append(v.copy())
            ws_.append(w.copy())
        vh, wh = np.array(vs_), np.array(ws_)
        loss = np.array([self.loss(a, b) for a, b in zip(vh, wh)])
        theta = np.array([self._geometry(b)[2] if np.any(b) else np.nan for b in wh])
        return Trajectory(loss, theta, np.linalg.norm(wh, axis=1), vh, wh)
