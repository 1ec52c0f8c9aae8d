"""File I/O of run directories: the atomic writers (from :mod:`qopt.io`, the project's one atomic
writer, re-exported here under their historical names) and tolerant JSON / JSONL readers."""

from __future__ import annotations

import json
import os
from typing import Any

from qopt.io import (
    atomic_torch_save,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    to_json,
)

__all__ = ["atomic_torch_save", "atomic_write", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "read_json", "read_jsonl", "to_json"]


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """All complete lines of a JSONL file (a torn last line, from a kill, is ignored)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n"):
                out.append(json.loads(line))
    return out
