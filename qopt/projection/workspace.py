"""Reusable flat work buffers for the CPU paths (a fresh large array costs page faults on first
touch, several times the cost of the pass that fills it)."""

from __future__ import annotations

import numpy as np

__all__ = ["Workspace"]


class Workspace:
    """Named flat numpy buffers, grown on demand and reused across calls.

    ``get(name, n, dtype)`` returns a view of length n. Not thread-safe; one per group of tensors
    (per :func:`qopt.projection.batched.project_group` call site) is the intended use.
    """

    def __init__(self) -> None:
        self._bufs: dict[tuple[str, np.dtype], np.ndarray] = {}

    def get(self, name: str, n: int, dtype: np.dtype | type) -> np.ndarray:
        key = (name, np.dtype(dtype))
        buf = self._bufs.get(key)
        if buf is None or buf.shape[0] < n:
            buf = np.empty(max(n, 1), dtype=dtype)
            self._bufs[key] = buf
        return buf[:n]

    def nbytes(self) -> int:
        """Bytes held (for diagnostics)."""
        return sum(b.nbytes for b in self._bufs.values())
