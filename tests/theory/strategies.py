"""Shared hypothesis strategies and an independent brute-force projection for theory/ tests.

The brute force enumerates every code vector z in L^n and takes, for each, its optimal scale
alpha_z = <w,z>_+/||z||^2 (free scale) or the fixed scale; it shares no code with
``theory.projection`` (no sweep, no midpoints, no tie rule).
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st

from theory.sets import Binary, Grid, QuantSet, Symmetric, Ternary, Uniform

#: Every kind of set, with the cases the sweep must get right: symmetric with/without zero,
#: asymmetric, one-signed, fixed scales.
ALL_SETS: tuple[QuantSet, ...] = (
    Binary(),
    Ternary(),
    Uniform(2),
    Uniform(3),
    Uniform(4),
    Symmetric(1),
    Symmetric(2),
    Symmetric(3),
    Grid([-2, -1, 0, 1, 2], scale=None),
    Grid([-4, -2, -1, 0, 1, 2, 4], scale=None),  # powers of two
    Grid([1, 2, 4], scale=None),  # one-signed, no zero
    Grid([-4, -2, -1, -0.5], scale=None),  # one-signed negative
    Grid([-1, 2], scale=None),  # asymmetric, no zero
    Grid([-3, -1, 0, 0.5, 2], scale=None),  # asymmetric with zero
    Grid([0.0, 1.0], scale=None),  # zero and one level
    Grid([-1, 0, 1], scale=0.3),  # fixed scale
    Grid([-1.5, 0.25, 2], scale=1.0),  # fixed, asymmetric
    Uniform(3, scale=0.7),
    Symmetric(2, scale=0.5),
    Binary(scale=2.0),
)

FREE_SETS = tuple(s for s in ALL_SETS if s.is_cone)
SYMMETRIC_CONES = tuple(s for s in FREE_SETS if s.is_symmetric)


def set_id(s: QuantSet) -> str:
    return s.spec


def brute_force(w: np.ndarray, qset: QuantSet) -> float:
    """min over all z in L^n of ||w - alpha_z z||^2 (w 1-D, small)."""
    w = np.asarray(w, dtype=np.float64).ravel()
    L = qset.levels
    Z = np.array(list(itertools.product(L, repeat=w.size)), dtype=np.float64)  # (k^n, n)
    if qset.scale is None:
        s1 = Z @ w
        s2 = np.einsum("ij,ij->i", Z, Z)
        alpha = np.where(s2 > 0, np.maximum(s1, 0.0) / np.where(s2 > 0, s2, 1.0), 0.0)
    else:
        alpha = np.full(len(Z), qset.scale)
    r = w[None, :] - alpha[:, None] * Z
    return float(np.min(np.einsum("ij,ij->i", r, r)))


def max_n(qset: QuantSet, budget: int = 40_000) -> int:
    """Largest n with k^n <= budget (so the brute force stays fast)."""
    k = qset.n_levels
    n = 1
    while k ** (n + 1) <= budget and n < 6:
        n += 1
    return n


# -- weights ---------------------------------------------------------------------------------------
_NICE = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 3.5, 4.0])


@st.composite
def tie_weights(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> np.ndarray:
    """Weights built from a few dyadic magnitudes with random signs: exact midpoint ties,
    zeros and repeated magnitudes are frequent (dyadic values make the ties exact in float)."""
    n = draw(st.integers(min_size, max_size))
    mags = draw(st.lists(_NICE, min_size=n, max_size=n))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
    scale = draw(st.sampled_from([1.0, 0.5, 2.0**-20, 2.0**20]))
    return np.array(mags) * np.array(signs) * scale


@st.composite
def wide_weights(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> np.ndarray:
    """Weights with magnitudes spread over 1e-8 .. 1e8 (and exact zeros)."""
    n = draw(st.integers(min_size, max_size))
    mag = st.one_of(st.just(0.0), st.floats(0.1, 1.0))
    mant = draw(st.lists(mag, min_size=n, max_size=n))
    mant = np.array(mant) * np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n,
                                                       max_size=n)))
    expo = draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n))
    return np.array(mant) * 10.0 ** np.array(expo, dtype=np.float64)


@st.composite
def gaussian_weights(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> np.ndarray:
    """Generic weights (no ties with probability one), from a drawn seed."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).standard_normal(n)


def any_weights(min_size: int = 1, max_size: int = 6) -> st.SearchStrategy[np.ndarray]:
    return st.one_of(
        tie_weights(min_size, max_size),
        wide_weights(min_size, max_size),
        gaussian_weights(min_size, max_size),
    )
