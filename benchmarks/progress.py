"""How a benchmark section reports progress and partial results to the suite.

The suite (:func:`benchmarks.suite.run_suite`) calls a section module's ``run`` as

.. code-block:: python

    def run(quick: bool = False, progress: SectionProgress | None = None) -> list[dict]:
        progress = progress or NULL_PROGRESS
        cases = [...]
        progress.total(len(cases))              # how many units of work (may be revised)
        rows = []
        for case in cases:
            new = measure(case)                 # one unit: e.g. one (set, size) pair
            rows += new
            progress.unit(f"{case.set} n={case.n:.0e}", new)   # done: its rows
        return rows

* ``progress.total(n)`` — the number of units the section will run (a terminal shows a bar
  ``k/n``; a log gets one line per unit). Optional; call again to revise.
* ``progress.unit(desc, rows=())`` — one unit finished; ``desc`` says which (a few words), and
  ``rows`` are the table rows it produced. The suite keeps these rows as the section's partial
  result: if the run is interrupted (Ctrl-C, SIGTERM from a batch scheduler) they are written
  to the results file as an *interrupted* entry instead of being lost.
* the **return value** stays the section's result: the rows of a section that completes are
  the returned list (which may reorder or post-process the rows reported per unit).

A section whose ``run`` takes no ``progress`` parameter still works (the suite then reports only
its start and end). :data:`NULL_PROGRESS` is the do-nothing reporter for direct calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["NULL_PROGRESS", "SectionProgress"]


class SectionProgress:
    """Progress and partial rows of one section (module docstring).

    Args:
        on_total: called with the announced number of units.
        on_unit: called as ``on_unit(k, total, desc, rows)`` after each unit (``k`` counts from
            1; ``total`` is None when never announced).
    """

    def __init__(self, on_total: Callable[[int], None] | None = None,
                 on_unit: Callable[[int, int | None, str, list[dict[str, Any]]], None]
                 | None = None) -> None:
        self._on_total = on_total
        self._on_unit = on_unit
        self.n_total: int | None = None
        self.n_done = 0
        self.rows: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    def total(self, n: int) -> None:
        """Announce (or revise) the number of units of work."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"total must be an integer >= 0, got {n!r}")
        self.n_total = n
        if self._on_total is not None:
            self._on_total(n)

    def unit(self, desc: str = "", rows: Iterable[dict[str, Any]] = ()) -> None:
        """One unit finished: ``desc`` names it, ``rows`` are the rows it produced."""
        new = list(rows)
        for r in new:
            if not isinstance(r, dict):
                raise TypeError(f"rows must be dicts, got {type(r).__name__}")
        new = [dict(r) for r in new]
        self.rows += new
        self.n_done += 1
        if self._on_unit is not None:
            self._on_unit(self.n_done, self.n_total, str(desc), new)


class _Null(SectionProgress):
    def total(self, n: int) -> None:
        pass

    def unit(self, desc: str = "", rows: Iterable[dict[str, Any]] = ()) -> None:
        pass


#: A reporter that ignores everything (for calling a section's ``run`` directly).
NULL_PROGRESS: SectionProgress = _Null()
