"""Cold-start exact projection ``qopt.project`` against its floors (issue 14 item 4).

For each set and size n (1e4 .. 1e7; ``quick``: 1e4, 1e5) we time ``qopt.project(w, qset)`` on
float32 Gaussian weights (seed 0), one scale per tensor, no warm start, with the API's default
validation, against two floors on the same array, timed round-robin
(:func:`benchmarks.timing.time_interleaved`) so the ratios are taken under the same load:

* ``pass``: one elementwise pass, ``w.abs()`` (torch, allocating as ordinary code does);
* ``sort``: one value sort, ``numpy.sort`` of the array on CPU (several times faster than
  ``torch.sort`` there), ``torch.sort`` on CUDA.

``ratio`` is the time over the floor its target names (issue 14 item 4): binary within 3 passes;
ternary (= ``uniform:2``) within 1.5 sorts; multi-bit ``uniform:3`` .. ``uniform:8`` and the
``symmetric`` grids within 3 sorts, at 1e6 and 1e7 elements; ``met`` says whether the row meets
it (sizes below 1e6 have no target). Each row records the 1-minute load average when measured.

``python -m benchmarks.projection [--quick] [--device cuda]`` prints the table; :func:`run`
returns the rows.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np
import torch

from benchmarks.progress import NULL_PROGRESS, SectionProgress
from benchmarks.timing import device_sync, time_interleaved
from qopt import project
from theory.sets import QuantSet, parse_qset

__all__ = ["run", "main", "CASES"]

#: (set spec, floor of its target, target ratio)
CASES: list[tuple[str, str, float]] = [
    ("binary", "pass", 3.0), ("ternary", "sort", 1.5),
    *[(f"uniform:{b}", "sort", 3.0) for b in range(3, 9)],
    ("symmetric:2", "sort", 3.0), ("symmetric:4", "sort", 3.0),
]


def _load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _case(qset: QuantSet, n: int, dev: torch.device, quick: bool) -> dict[str, Any]:
    w = torch.from_numpy(np.random.default_rng(0).standard_normal(n).astype(np.float32)).to(dev)
    wn = w.numpy() if dev.type == "cpu" else None
    sort = (lambda: np.sort(wn)) if wn is not None else (lambda: torch.sort(w))
    repeats = 3 if quick or n >= 10**7 else 5
    t = time_interleaved({"proj": lambda: project(w, qset), "pass": lambda: w.abs(),
                          "sort": sort}, sync=device_sync(dev), warmup=1, repeats=repeats,
                         min_sample_s=0.0 if quick else 0.02, max_inner=200)
    s, p, srt = t["proj"].median_s, t["pass"].median_s, t["sort"].median_s
    return {"set": qset.spec, "n": n, "seconds": s, "pass_seconds": p, "sort_seconds": srt,
            "x_pass": s / p, "x_sort": s / srt, "device": str(dev), "load_1m": _load()}


def run(quick: bool = False, progress: SectionProgress | None = None,
        device: str | None = None, sets: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows ``{set, n, ratio, floor, target, met, seconds, pass_seconds, sort_seconds, x_pass,
    x_sort, device, load_1m}`` (medians over round-robin repeats).

    Args:
        quick: sizes 1e4, 1e5 and few repeats (a smoke test, not a measurement).
        progress: the suite's progress reporter (one unit per size).
        device: ``"cpu"`` / ``"cuda"`` (default: CUDA when available).
        sets: set specs replacing :data:`CASES`' (their floor: sort, target 3).
    """
    progress = progress or NULL_PROGRESS
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cases = CASES if sets is None else [(s, "pass" if s.startswith("binary") else "sort", 3.0)
                                        for s in sets]
    sizes = [10**4, 10**5] if quick else [10**4, 10**5, 10**6, 10**7]
    progress.total(len(sizes))
    rows = []
    for n in sizes:
        new = []
        for spec, floor, target in cases:
            r = _case(parse_qset(spec), n, dev, quick)
            ratio = r["x_pass"] if floor == "pass" else r["x_sort"]
            new.append({"set": spec, "n": n, "ratio": ratio, "floor": floor,
                        "target": target if n >= 10**6 else None,
                        "met": (ratio <= target) if n >= 10**6 else None,
                        **{k: v for k, v in r.items() if k not in ("set", "n")}})
        rows += new
        progress.unit(f"n={n:.0e}", new)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1e4..1e5 only, fewer repeats")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    ap.add_argument("--sets", nargs="*", help="set specs, e.g. ternary uniform:4")
    args = ap.parse_args(argv)
    print(f"{'set':<14}{'n':>10}{'seconds':>11}{'x_pass':>8}{'x_sort':>8}{'target':>8}"
          f"{'met':>6}{'load':>6}")
    for r in run(args.quick, device=args.device, sets=args.sets):
        tgt = "" if r["target"] is None else f"{r['target']:g}x {r['floor']}"
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['set']:<14}{r['n']:>10}{r['seconds']:>11.4g}{r['x_pass']:>8.2f}"
              f"{r['x_sort']:>8.2f}{tgt:>12}{met:>6}{r['load_1m'] or 0:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
