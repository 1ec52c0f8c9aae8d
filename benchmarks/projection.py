"""Exact projections of :mod:`theory` (numpy, float64) against their floor.

For each set and size n (1e4 .. 1e7; ``quick``: 1e4 .. 1e5) we time ``theory.project(w, qset)``
on Gaussian weights (seed 0) and its *floor*, the unavoidable work of its algorithm on the same
array: ``np.sort(w)`` for the sort-based ones (ternary top-t scan, the multi-bit breakpoint
sweep), one elementwise pass ``np.abs(w)`` for the others (binary, fixed scale). Projection and
floor are timed round-robin (:func:`benchmarks.timing.time_interleaved`), so the ratio
seconds / floor_seconds is taken within one run under the same load.

Targets (issue 2): exact ternary on 1e7 weights within 1.5x of ``np.sort`` of 1e7 values;
exact 4-bit ``Uniform`` (free scale) on 1e6 weights under 1 s.

``python -m benchmarks.projection [--quick]`` prints the table; :func:`run` returns the rows
``{set, n, seconds, floor_seconds, ratio, floor}``.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.timing import time_interleaved
from theory import Binary, QuantSet, Symmetric, Ternary, Uniform, parse_qset, project

__all__ = ["run", "main", "CASES"]

#: (set, floor name): the sort-based algorithms against np.sort, the others against np.abs.
CASES: list[tuple[QuantSet, str]] = [
    (Binary(), "abs"),
    (Ternary(), "sort"),
    (Uniform(4), "sort"),
    (Symmetric(2), "sort"),
    (Uniform(4, scale=0.1), "abs"),
]
_FLOORS = {"sort": np.sort, "abs": np.abs}


def run(quick: bool = False, sets: list[str] | None = None) -> list[dict]:
    """Rows {set, n, seconds, floor_seconds, ratio, floor}: medians over round-robin repeats.

    Args:
        quick: sizes 1e4, 1e5 and fewer repeats (a smoke test, not a measurement).
        sets: optional list of set specs (``parse_qset``) replacing :data:`CASES`' sets.
    """
    cases = CASES if sets is None else [(parse_qset(s), "sort" if parse_qset(s).is_cone
                                         and parse_qset(s).n_levels > 2 else "abs") for s in sets]
    sizes = [10**4, 10**5] if quick else [10**4, 10**5, 10**6, 10**7]
    rows = []
    for n in sizes:
        w = np.random.default_rng(0).standard_normal(n)
        for qset, floor in cases:
            repeats = 3 if quick else (5 if n >= 10**7 else 9)
            t = time_interleaved(
                {"proj": lambda q=qset, x=w: project(x, q),
                 "floor": lambda f=_FLOORS[floor], x=w: f(x)},
                warmup=1, repeats=repeats, min_sample_s=0.05, max_inner=1000)
            s, f = t["proj"].median_s, t["floor"].median_s
            rows.append({"set": qset.spec, "n": n, "seconds": s, "floor_seconds": f,
                         "ratio": s / f, "floor": f"np.{floor}"})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1e4..1e5 only, fewer repeats")
    ap.add_argument("--sets", nargs="*", help="set specs, e.g. ternary uniform:4")
    args = ap.parse_args(argv)
    print(f"{'set':<16}{'n':>10}{'seconds':>12}{'floor':>10}{'floor_s':>12}{'ratio':>8}")
    for r in run(args.quick, args.sets):
        print(f"{r['set']:<16}{r['n']:>10}{r['seconds']:>12.4g}{r['floor']:>10}"
              f"{r['floor_seconds']:>12.4g}{r['ratio']:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
