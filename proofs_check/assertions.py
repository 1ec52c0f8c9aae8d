"""Assertion helpers for users' own pytest suites (two lines per quantizer).

Example::

    from proofs_check import assert_projection
    from theory import Ternary

    def test_my_ternary_is_exact():
        assert_projection(my_ternary, Ternary())

Each helper raises ``AssertionError`` whose message is the full report table: the failed checks,
their figures and a minimal counterexample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from proofs_check.quantizer import verify_quantizer
from proofs_check.report import Report, format_array
from theory.projection import project
from theory.sets import QuantSet, parse_qset

__all__ = ["assert_in_set", "assert_optimal", "assert_projection"]


def assert_projection(fn: Callable[[Any], Any], qset: QuantSet | str, axis: int | None = None,
                      backend: str = "numpy", **kwargs: Any) -> Report:
    """Assert that ``fn`` passes every applicable check of :func:`verify_quantizer` (same
    arguments); returns the report when it does.

    Raises:
        AssertionError: some check failed (the message is the report table).
    """
    report = verify_quantizer(fn, qset, axis, backend, **kwargs)
    if not report.passed:
        raise AssertionError("quantizer is not an exact projection:\n" + report.table())
    return report


def _set(qset: QuantSet | str) -> QuantSet:
    return parse_qset(qset) if isinstance(qset, str) else qset


def assert_in_set(q: Any, qset: QuantSet | str, axis: int | None = None,
                  rtol: float = 1e-12) -> None:
    r"""Assert that ``q`` lies in Q: each slice is :math:`\alpha L^n` for one scale
    (free: some :math:`\alpha \ge 0`; fixed: ``qset.scale``), entrywise within
    ``rtol * max|q_slice|``.

    Raises:
        AssertionError: naming the slice and the worst entry.
    """
    qset = _set(qset)
    a = np.asarray(q, dtype=np.float64)
    rows = a.reshape(1, -1) if axis is None else np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)
    lv = qset.levels
    for i, row in enumerate(rows):
        top = float(np.max(np.abs(row)))
        if qset.scale is not None:
            scales = [qset.scale]
        elif top == 0:
            continue
        else:
            k = int(np.argmax(np.abs(row)))
            scales = [row[k] / v for v in lv if v != 0 and row[k] / v > 0]
        best, arg = np.inf, -1
        for s in scales:
            err = np.abs(row - s * lv[np.argmin(np.abs(row[:, None] / s - lv[None, :]), 1)])
            if err.max() < best:
                best, arg = float(err.max()), int(np.argmax(err))
        if not best <= rtol * max(top, np.finfo(float).tiny):
            raise AssertionError(
                f"slice {i} is not in {qset.spec}: entry {arg} = {row[arg]!r} is off every level "
                f"by {best:.3g} (> {rtol:g} * max|q|); slice = {format_array(row)}")


def assert_optimal(w: Any, q: Any, qset: QuantSet | str, axis: int | None = None,
                   rtol: float = 1e-9) -> None:
    r"""Assert :math:`\|w - q\|^2 \le (1 + r)\operatorname{dist}(w, Q)^2 + r\|w\|^2` per slice
    (q is a nearest point of w), with the exact distance from :func:`theory.project`.
    Membership is not checked here (use :func:`assert_in_set`).

    Raises:
        AssertionError: with the ratio and the exact projection.
    """
    qset = _set(qset)
    w64, q64 = np.asarray(w, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if w64.shape != q64.shape:
        raise AssertionError(f"q has shape {q64.shape}, w has shape {w64.shape}")
    p = project(w64, qset, axis)
    if axis is None:
        e2, d2, n2 = [np.sum((w64 - q64) ** 2)], [p.dist2], [np.sum(w64**2)]
    else:
        red = tuple(i for i in range(w64.ndim) if i != axis % w64.ndim)
        e2, d2 = np.sum((w64 - q64) ** 2, axis=red), p.dist2
        n2 = np.sum(w64**2, axis=red)
    for i, (e, d, n) in enumerate(zip(e2, d2, n2)):
        if e > d * (1 + rtol) + rtol * n:
            raise AssertionError(
                f"slice {i}: ||w-q||^2 = {e:.6g} exceeds dist(w,Q)^2 = {d:.6g} "
                f"(ratio {e / d if d > 0 else float('inf'):.6g}); exact projection "
                f"{format_array(p.q)}")
