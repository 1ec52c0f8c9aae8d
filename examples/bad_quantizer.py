"""A quantizer that ``qopt verify quantizer`` rejects, to show a counterexample.

    qopt verify quantizer examples/bad_quantizer.py:twn --set ternary     # exit 1

The ternary-weight-network rule (Li et al., "Ternary weight networks", 2016): threshold
0.7 * mean|w|, scale the mean magnitude above it. It returns a ternary vector (``membership``
passes) but not the nearest one: the rule is exact only in an approximate sense for Gaussian
weights, and the verifier finds inputs where its squared error exceeds dist(w, Q)^2, the
exact projection's (``optimality`` fails, with the input that shows it).
"""

import numpy as np


def twn(w: np.ndarray) -> tuple[np.ndarray, float]:
    """TWN's approximate ternary quantizer of a 1-D ``w``: returns ``(q, a)``."""
    delta = 0.7 * np.abs(w).mean()
    keep = np.abs(w) > delta
    scale = float(np.abs(w[keep]).mean()) if keep.any() else 0.0
    return np.where(keep, scale * np.sign(w), 0.0), scale
