"""A stand-in benchmark section for the suite tests: projection-like rows with a size column."""

from __future__ import annotations


def run(quick: bool = False) -> list[dict]:
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    return [{"set": s, "n": n, "time_ms": 1e-4 * n * k, "floor_ms": 1e-4 * n,
             "ratio": float(k), "device": "cpu"}
            for k, s in ((1, "binary"), (3, "ternary")) for n in sizes]
