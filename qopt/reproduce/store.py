"""The resumable result store of ``qopt reproduce``: one JSON file per finished claim.

``OUT/claims/<mode>/<claim>.json`` holds ``{"claim", "protocol", "result", "wall_s",
"finished"}`` and is written atomically (:func:`qopt.train.io.atomic_write_json`: temp file,
fsync, rename) only after the claim finished, so it is complete or absent — a killed
``qopt reproduce`` loses at most the claim it was computing, and within a training claim only the
unfinished runs (the study runner resumes those from their checkpoints).

A stored result is reused iff its protocol equals the requested protocol (compared as JSON
data) AND it was computed by the same code (:func:`code_fingerprint`: a hash of the sources that
turn runs into numbers and verdicts); otherwise the claim is computed again (its finished
training runs are still reused by the study runner when their configurations are unchanged)
and the file replaced.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from qopt.reproduce.claim import ClaimResult
from qopt.train.io import atomic_write_json, read_json, to_json

__all__ = ["CODE_SOURCES", "ResultStore", "canonical", "code_fingerprint"]

#: source files (relative to the repository root, globs) whose code computes the claims'
#: numbers and verdicts from protocols and runs
CODE_SOURCES = ("qopt/reproduce/**/*.py", "theory/**/*.py", "proofs_check/descent.py",
                "proofs_check/claims_steps.py", "figures/plot_coarse_cosine.py")


def code_fingerprint() -> str:
    """SHA-256 (16 hex digits) over the contents of :data:`CODE_SOURCES`, in sorted order."""
    import hashlib

    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for pattern in CODE_SOURCES:
        for f in sorted(root.glob(pattern)):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def canonical(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples -> lists, NaN -> null): the form protocols
    are compared in."""
    return json.loads(to_json(obj, indent=None))


class ResultStore:
    """Finished claims under ``out_dir/claims/<mode>/``."""

    def __init__(self, out_dir: str | Path, mode: str, code: str | None = None) -> None:
        if mode not in ("quick", "full"):
            raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
        self.dir = Path(out_dir) / "claims" / mode
        self.code = code_fingerprint() if code is None else code

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def load(self, name: str, protocol: dict) -> tuple[ClaimResult, float] | None:
        """(result, wall seconds) of ``name`` if stored with this exact protocol, else None.
        A file that does not parse is treated as absent (it will be rewritten)."""
        p = self.path(name)
        if not p.is_file():
            return None
        try:
            d = read_json(p)
            if d.get("claim") != name or d.get("protocol") != canonical(protocol) \
                    or d.get("code") != self.code:
                return None
            return ClaimResult.from_dict(d["result"]), float(d.get("wall_s", 0.0))
        except (ValueError, KeyError, TypeError):
            return None

    def stored_protocol(self, name: str) -> dict | None:
        """The protocol of the stored result of ``name`` (None if none)."""
        try:
            return read_json(self.path(name)).get("protocol")
        except (OSError, ValueError):
            return None

    def save(self, name: str, protocol: dict, result: ClaimResult, wall_s: float) -> Path:
        """Atomically store a finished claim."""
        return atomic_write_json(self.path(name), {
            "claim": name, "protocol": canonical(protocol), "code": self.code,
            "result": result.to_dict(),
            "wall_s": wall_s, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
