"""Exact group-wise projection against one sort of the same array (issue 21 item 7).

For each set and size n (1e5 .. 1e7; ``quick``: 1e4, 1e5) we time
``qopt.project(w, qset, group_size=128)`` (one scale per block of 128 consecutive weights of the
flattened float32 Gaussian array, seed 0; cold start, default validation) against one value sort
of the same array (``numpy.sort`` on CPU, ``torch.sort`` on CUDA), timed round-robin
(:func:`benchmarks.timing.time_interleaved`) so the ratio is taken under the same load. Target
(issue 21 item 7): ``ratio`` <= 2 at n = 1e7 for the 4-bit sets; ``met`` says whether the row
meets it (smaller sizes have no target). Each row records the 1-minute load average.

``python -m benchmarks.group_projection [--quick] [--device cuda]`` prints the table.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from benchmarks.progress import NULL_PROGRESS, SectionProgress
from benchmarks.projection import _load
from benchmarks.timing import device_sync, time_interleaved
from qopt import project
from theory.sets import parse_qset

__all__ = ["run", "main", "CASES", "GROUP", "TARGET"]

#: set specs measured (int4 as stored by int4 kernels, NF4, the symmetric 15-level grid)
CASES = ("int:4", "nf4", "uniform:4")
GROUP = 128
TARGET = 2.0


def run(quick: bool = False, progress: SectionProgress | None = None,
        device: str | None = None) -> list[dict[str, Any]]:
    """Rows ``{set, n, group_size, ratio, target, met, seconds, sort_seconds, device,
    load_1m}`` (medians over round-robin repeats)."""
    progress = progress or NULL_PROGRESS
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    sizes = [10**4, 10**5] if quick else [10**5, 10**6, 10**7]
    progress.total(len(sizes))
    rows = []
    for n in sizes:
        w = torch.from_numpy(np.random.default_rng(0).standard_normal(n).astype(np.float32))
        w = w.to(dev)
        wn = w.numpy() if dev.type == "cpu" else None
        sort = ((lambda wn=wn: np.sort(wn)) if wn is not None
                else (lambda w=w: torch.sort(w)))
        new = []
        for spec in CASES:
            qset = parse_qset(spec)
            t = time_interleaved({"proj": lambda w=w, qset=qset: project(w, qset,
                                                                     group_size=GROUP),
                                  "sort": sort}, sync=device_sync(dev), warmup=1,
                                 repeats=2 if quick or n >= 10**7 else 3,
                                 min_sample_s=0.0 if quick else 0.02, max_inner=50)
            s, srt = t["proj"].median_s, t["sort"].median_s
            big = n >= 10**7
            new.append({"set": spec, "n": n, "group_size": GROUP, "ratio": s / srt,
                        "target": TARGET if big else None,
                        "met": (s / srt <= TARGET) if big else None, "seconds": s,
                        "sort_seconds": srt, "device": str(dev), "load_1m": _load()})
        rows += new
        progress.unit(f"n={n:.0e}", new)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1e4..1e5 only, fewer repeats")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    args = ap.parse_args(argv)
    print(f"{'set':<12}{'n':>10}{'seconds':>11}{'x_sort':>9}{'target':>8}{'met':>6}{'load':>6}")
    for r in run(args.quick, device=args.device):
        tgt = "" if r["target"] is None else f"{r['target']:g}x"
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['set']:<12}{r['n']:>10}{r['seconds']:>11.4g}{r['ratio']:>9.2f}{tgt:>8}"
              f"{met:>6}{r['load_1m'] or 0:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
