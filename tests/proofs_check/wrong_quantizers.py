"""Deliberately wrong quantizers (and a correct one), shared by the verifier and CLI tests.

Each docstring says which check must catch it and why.
"""

from __future__ import annotations

import numpy as np

from theory import Ternary, project


def exact_ternary(w: np.ndarray) -> np.ndarray:
    """Correct: the exact projection onto the scaled ternary set."""
    return project(w, Ternary()).q


def twn_ternary(w: np.ndarray) -> np.ndarray:
    """TWN heuristic: threshold 0.7·mean|w|, scale = mean of the kept |w|. In Q, orthogonal
    (the scale is the least-squares one for its support), idempotent, but the threshold is not the
    optimal one: **optimality** fails (e.g. w = [1, 2]: keeps only 2, error 1 vs 0.5)."""
    d = 0.7 * np.abs(w).mean()
    keep = np.abs(w) > d
    a = np.abs(w[keep]).mean() if keep.any() else 0.0
    return a * np.sign(w) * keep


def half_scale_binary(w: np.ndarray) -> np.ndarray:
    """Binary with half the optimal scale: in Q (a cone), equivariant, but **optimality** and
    **orthogonality** fail (<w - q, q> = ||w||_1^2/(4n) > 0)."""
    return 0.5 * np.abs(w).mean() * np.where(w >= 0, 1.0, -1.0)


def sign_biased_ternary(w: np.ndarray) -> np.ndarray:
    """Exact on inputs with a non-negative sum; on the others keeps only the most negative entry
    at full magnitude: **sign_symmetry** fails (and optimality)."""
    if w.sum() >= 0:
        return project(w, Ternary()).q
    q = np.zeros_like(w)
    k = int(np.argmin(w))
    q[k] = w[k]
    return q


def outside_binary(w: np.ndarray) -> np.ndarray:
    """mean|w|·np.sign(w): np.sign(0) = 0 is not a binary level: **membership** fails on any
    input with a zero and a non-zero entry."""
    return np.abs(w).mean() * np.sign(w)


_RNG = np.random.default_rng(0)


def stochastic_binary(w: np.ndarray) -> np.ndarray:
    """Stochastic rounding to ±α (unbiased): in Q but random: **determinism** fails."""
    a = np.abs(w).mean()
    if a == 0:
        return np.zeros_like(w)
    p_up = np.clip((w / a + 1) / 2, 0, 1)
    return a * np.where(_RNG.random(w.shape) < p_up, 1.0, -1.0)


def even_only_binary(w: np.ndarray) -> np.ndarray:
    """Scale Σ|w| / (n + n mod 2): exact for even n, too small for odd n: **optimality** fails
    and the counterexample has an odd length."""
    n = w.size
    return np.abs(w).sum() / (n + n % 2) * np.where(w >= 0, 1.0, -1.0)


def global_scale_binary(w: np.ndarray) -> np.ndarray:
    """Ignores ``axis``: one scale for the whole 2-D tensor where one per row is asked for:
    **optimality** fails on a counterexample with at least two rows of different magnitude."""
    return np.abs(w).mean() * np.where(w >= 0, 1.0, -1.0)


def mutating_binary(w: np.ndarray) -> np.ndarray:
    """Correct values, but overwrites its input in place: **determinism** fails."""
    a = np.abs(w).mean()
    w[...] = a * np.where(w >= 0, 1.0, -1.0)
    return w.copy()


def raising(w: np.ndarray) -> np.ndarray:
    """Raises on inputs with more than 3 entries (bad usage, not a failed check)."""
    if w.size > 3:
        raise ValueError("only short vectors supported")
    return project(w, Ternary()).q
