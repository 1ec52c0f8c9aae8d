"""Progress of long commands: a bar on a terminal, one line per unit of work otherwise.

``qopt bench``, ``qopt verify theory`` and ``qopt figures`` report through :class:`Progress`:

* on a terminal (the stream's ``isatty()``): a tqdm bar ``label k/total [elapsed<remaining]``
  with the current unit's name; lines written with :meth:`Progress.write` appear above it;
* otherwise (a log file, ``nohup``, a batch scheduler's output): one line per unit,
  ``[label] k/total desc (elapsed 12.3 s)``, flushed at once so a ``tail -f`` shows it live, and
  every :meth:`Progress.write` line as is.

Progress goes to **stderr** (as the trainer's bar does): stdout keeps the command's result (a
report table, paths of written files), so ``qopt verify theory > report.txt`` gives a clean
report while the terminal still shows the progress.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

__all__ = ["Progress"]


class Progress:
    """A progress display (module docstring).

    Args:
        label: what is progressing (``"bench projection"``, ``"verify theory"``).
        total: number of units, if known (``set_total`` can give it later).
        stream: where to write (default ``sys.stderr``, looked up at construction).
        tty: force bar (True) or lines (False); default ``stream.isatty()``.
    """

    def __init__(self, label: str, total: int | None = None, *, stream: IO[str] | None = None,
                 tty: bool | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty()) if callable(isatty) else False
        self.tty = tty
        self.total = total
        self.done = 0
        self.t0 = time.perf_counter()
        self._bar: Any = None
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, file=self.stream, leave=False,
                             dynamic_ncols=True, mininterval=0.2)

    def elapsed(self) -> float:
        """Seconds since the display was created."""
        return time.perf_counter() - self.t0

    def set_total(self, total: int | None) -> None:
        """Announce (or revise) the number of units."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, desc: str = "", n: int = 1, *, keep: bool = False) -> None:
        """``n`` more units done; ``desc`` names the last one. ``keep``: on a terminal, also
        leave the unit's line above the bar (each result stays visible, e.g. a claim)."""
        self.done += n
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        tail = f" {desc}" if desc else ""
        line = f"[{self.label}] {count}{tail} (elapsed {self.elapsed():.1f} s)"
        if self._bar is not None:
            if keep:  # the line stays; the bar keeps naming the running unit (running())
                self._bar.write(line, file=self.stream)
            else:
                self._bar.set_postfix_str(desc, refresh=False)
            self._bar.update(n)
            return
        self._line(line)

    def running(self, desc: str) -> None:
        """Name the unit now running (shown on the bar; nothing is written to a log)."""
        if self._bar is not None:
            self._bar.set_postfix_str(desc)

    def write(self, line: str) -> None:
        """A full line (above the bar on a terminal)."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            self._line(line)

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """Remove the bar (lines already written stay)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
