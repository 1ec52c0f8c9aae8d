"""A benchmark section using the progress interface: three units, one row each."""

from __future__ import annotations

from benchmarks.progress import NULL_PROGRESS, SectionProgress


def run(quick: bool = False, progress: SectionProgress | None = None) -> list[dict]:
    progress = progress or NULL_PROGRESS
    sizes = (10, 100, 1000)
    progress.total(len(sizes))
    rows = []
    for n in sizes:
        row = {"set": "binary", "n": n, "ratio": 1.0 + 1.0 / n}
        rows.append(row)
        progress.unit(f"n={n}", [row])
    return rows
