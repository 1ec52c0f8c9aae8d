"""File I/O of run directories: the atomic writers (from :mod:`qopt.io`, the project's one atomic
writer, re-exported here under their historical names) and tolerant JSON / JSONL readers."""

from __future__ import annotations

import os
from typing import Any

from qopt.io import (
    atomic_torch_save,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    open_regular,
    parse_json,
    read_json_file,
    to_json,
)

__all__ = ["atomic_torch_save", "atomic_write", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "read_json", "read_jsonl", "to_json"]


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file of a run or study directory: a regular file of bounded size
    (:func:`qopt.io.read_json_file`); every failure is a ``ValueError`` naming the file
    (``FileNotFoundError`` when it is missing)."""
    return read_json_file(path)


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """All complete lines of a JSONL file (a torn last line, from a kill, is ignored); a
    regular file only (:func:`qopt.io.open_regular`); ``ValueError`` naming the file and the
    line for a line that is not JSON."""
    out = []
    if not os.path.exists(path):
        return out
    with open_regular(path) as fh:
        for i, raw in enumerate(fh, 1):
            if raw.endswith(b"\n"):
                out.append(parse_json(raw.decode("utf-8", errors="replace"),
                                      f"{str(path)!r} line {i}"))
    return out
