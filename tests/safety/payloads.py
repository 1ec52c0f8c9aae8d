"""Real malicious files: loading any of them with plain ``pickle.load`` or
``torch.load(weights_only=False)`` creates a marker file (the tests prove that on a control
load in a subprocess, then assert that qopt's loaders never create it)."""

from __future__ import annotations

import hashlib
import io
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np


class _Payload:
    """Unpickling calls ``exec`` on code that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.code = f"open({str(marker)!r}, 'w').write('pwned')"

    def __reduce__(self):
        return (exec, (self.code,))


def evil_pickle(marker: Path) -> bytes:
    """A pickle of a dict that looks like a CIFAR batch, with the payload inside."""
    return pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1],
                         b"x": _Payload(marker)}, protocol=2)


def evil_torch(marker: Path, wrap: str | None = None) -> bytes:
    """``torch.save`` bytes of a dict (optionally under key ``wrap``) holding the payload."""
    import torch

    obj: object = {"weight": torch.zeros(2), "x": _Payload(marker)}
    if wrap:
        obj = {wrap: obj}
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def evil_checkpoint(marker: Path) -> bytes:
    """A payload with a *valid* qopt checkpoint header (correct checksum): the checksum proves
    integrity, not safety, so the loader must still refuse it."""
    payload = evil_torch(marker)
    return (b"QOPT-CHECKPOINT 1 sha256=" + hashlib.sha256(payload).hexdigest().encode() + b"\n"
            + payload)


def control_load(path: Path, how: str) -> None:
    """Load ``path`` unsafely in a subprocess (``how``: ``pickle`` or ``torch``), proving the
    file really runs its payload."""
    code = {"pickle": "import pickle; pickle.load(open({p!r}, 'rb'), encoding='bytes')",
            "torch": "import torch; torch.load({p!r}, weights_only=False)"}[how]
    subprocess.run([sys.executable, "-c", code.format(p=str(path))], capture_output=True,
                   timeout=120, check=False)
