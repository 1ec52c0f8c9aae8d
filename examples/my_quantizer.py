"""A correct quantizer for ``qopt verify quantizer``: the exact projection onto the ternary set.

Run from the repository root::

    qopt verify quantizer examples/my_quantizer.py:ternary --set ternary
    qopt verify quantizer examples/my_quantizer.py:Ternary.per_row --set ternary --axis 0

The contract ``qopt verify quantizer`` checks (see ``proofs_check/adapter.py``): the function
takes one floating array ``w`` -- ``numpy.ndarray`` float64 by default (``--backend torch``: a
``torch.Tensor``, float32 by default; ``--dtype`` changes either), 1-D, or 2-D with one scale per
slice along ``--axis`` -- and returns, without modifying ``w``, its quantization ``q`` of the same
shape: an array, a tuple ``(q, scale)`` (scale a scalar or one value per slice) or an object with
attributes ``q`` and ``scale``. It must be deterministic.

The ternary set is {-a, 0, a} with a free scale a > 0 (one per tensor, or per slice). Its exact
projection (Yin et al. 2018, BinaryRelax, Sec. 2; derived here in two lines): with the entries
sorted by magnitude, |w|_(1) >= |w|_(2) >= ..., keeping the t largest at a * sign(w) costs
||w||^2 - (sum_{i<=t} |w|_(i))^2 / t at the best scale a = mean of the t largest magnitudes, so
the projection takes the t that maximises (sum_{i<=t} |w|_(i))^2 / t -- a scan over t.
"""

import numpy as np


def ternary(w: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact projection of a 1-D ``w`` onto {-a, 0, a}: returns ``(q, a)``."""
    order = np.argsort(-np.abs(w), kind="stable")        # largest magnitude first
    csum = np.cumsum(np.abs(w)[order])
    t = int(np.argmax(csum**2 / np.arange(1, w.size + 1))) + 1  # best t (first maximiser)
    scale = float(csum[t - 1] / t)                           # mean of the t largest
    q = np.zeros_like(w, dtype=np.float64)
    q[order[:t]] = scale * np.where(w[order[:t]] >= 0, 1.0, -1.0)
    return q, scale


class Ternary:
    """``PATH.py:Class.method`` names an attribute path in the module, called as ``Class.method(w)``
    with no instance: use a ``staticmethod`` (or ``classmethod``)."""

    @staticmethod
    def per_row(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One scale per row of a 2-D ``w`` (``--axis 0``): returns ``(q, scales)``."""
        rows = [ternary(row) for row in w]
        return np.stack([q for q, _ in rows]), np.array([a for _, a in rows])
