"""A benchmark section interrupted after two of its four units (Ctrl-C, or SIGTERM when the
environment variable QOPT_TEST_SIGTERM is set: a batch scheduler ending the job)."""

from __future__ import annotations

import os
import signal

from benchmarks.progress import NULL_PROGRESS, SectionProgress


def run(quick: bool = False, progress: SectionProgress | None = None) -> list[dict]:
    progress = progress or NULL_PROGRESS
    progress.total(4)
    rows = []
    for n in (10, 100, 1000, 10000):
        if len(rows) == 2:
            if os.environ.get("QOPT_TEST_SIGTERM"):
                os.kill(os.getpid(), signal.SIGTERM)
            raise KeyboardInterrupt
        row = {"set": "ternary", "n": n, "ratio": 2.0}
        rows.append(row)
        progress.unit(f"n={n}", [row])
    return rows
