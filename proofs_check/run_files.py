"""Reading a run directory for ``verify run``: JSON records, and tensors read only with
``torch.load(weights_only=True)`` (a file is data, never code). Nothing from :mod:`qopt` is
imported: the checks are independent of the implementation they check.

Files: ``config.json`` (fields and recorded facts), ``metrics.jsonl`` (records ``train``,
``eval``, ``diag``, ``probe``, ``final``), ``result.json`` (finished runs), ``model.pt`` (the
evaluated network), ``quantized.pt`` (integer codes and scales), ``latent.pt`` (final latent
weights).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: unit roundoff of the parameter dtypes
UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24, "bfloat16": 2.0 ** -8,
                 "float16": 2.0 ** -11}


@dataclass
class RunFiles:
    """The parsed contents of a run directory."""

    path: Path
    config: dict[str, Any]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    #: 1 when the last line of ``metrics.jsonl`` is torn (no final newline: a killed write)
    torn: int = 0
    #: non-blank lines of ``metrics.jsonl`` read (the torn last line included)
    lines: int = 0
    #: (1-based line number, what is wrong) of every damaged line other than a torn last one
    damaged: list[tuple[int, str]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return self.records.get(kind, [])

    def tensors(self, name: str) -> dict[str, Any] | None:
        """A ``.pt`` file of the run as a dict, or None when absent (weights_only=True)."""
        p = self.path / name
        if not p.is_file():
            return None
        import torch

        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unreadable or unsafe: reported, not run
            raise ValueError(f"{str(p)!r} cannot be read with weights_only=True: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                             ) from None
        if not isinstance(obj, dict):
            raise ValueError(f"{str(p)!r} holds a {type(obj).__name__}, not a dict")
        return obj


#: the largest config.json / result.json read (a long run's result with its history: MBs)
MAX_JSON_BYTES = 64 << 20


def _open_regular(path: Path, max_bytes: int | None = None) -> Any:
    """``path`` opened for binary reading if it is a regular file (links followed) of at most
    ``max_bytes``, checked on the descriptor before reading: a FIFO never blocks (opened
    non-blocking), ``/dev/zero`` is never read. ``ValueError`` otherwise (the same rule as the
    trainer's reader, written here again: this module imports nothing from qopt)."""
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{str(path)!r} is not a regular file (a FIFO, device or "
                             "directory); refused")
        if max_bytes is not None and st.st_size > max_bytes:
            raise ValueError(f"{str(path)!r} is {st.st_size} bytes, more than {max_bytes}; "
                             "refused")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_regular(path: Path) -> bytes:
    with _open_regular(path, MAX_JSON_BYTES) as fh:
        return fh.read()


def load_run_files(run_dir: str | os.PathLike[str]) -> RunFiles:
    """Parse ``config.json``, ``metrics.jsonl`` and ``result.json`` (if present).

    Raises:
        ValueError: missing directory, ``config.json`` or ``metrics.jsonl``, invalid JSON in
            ``config.json`` or ``result.json``. Damaged lines of ``metrics.jsonl`` are not an
            error here: they are listed in ``damaged`` for the ``log`` invariant.
    """
    d = Path(run_dir)
    if not d.is_dir():
        what = "is not a directory" if os.path.lexists(d) else "does not exist"
        raise ValueError(f"run directory {str(d)!r} {what}")
    try:  # a regular file of bounded size: a FIFO or /dev/zero is refused (qopt.io)
        config = json.loads(_read_regular(d / "config.json").decode("utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{str(d)!r} has no config.json (not a run directory)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(d / 'config.json')!r} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{str(d / 'config.json')!r} is nested too deeply") from None
    if not isinstance(config, dict):
        raise ValueError(f"{str(d / 'config.json')!r} does not hold a JSON object")
    if not (d / "metrics.jsonl").exists():
        raise ValueError(f"{str(d)!r} has no metrics.jsonl")
    files = RunFiles(d, config)
    with _open_regular(d / "metrics.jsonl") as fh:  # binary; type and size checked
        _read_records(fh, files)
    if (d / "result.json").is_file():
        try:
            files.result = json.loads(_read_regular(d / "result.json").decode("utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{str(d / 'result.json')!r} is not valid JSON: {exc}") from None
    return files


def _read_records(fh: Any, files: RunFiles) -> None:
    """Parse ``metrics.jsonl`` line by line into ``files.records``.

    The trainer writes each record as one line ending in a newline, so a write cut by a kill
    leaves a last line *without* one: that line alone is tolerated (counted in ``files.torn``,
    not used). Every other line that is not UTF-8, not JSON, not a record (an object with a
    string ``type``) or a ``diag`` record with a non-number per-tensor value is damage: it goes
    to ``files.damaged`` with its line number (the ``log`` invariant fails on it) and is not
    used either. Blank lines carry nothing and are skipped.
    """
    prev: bytes | None = None
    number = 0
    for raw in fh:
        if prev is not None:
            _parse_line(prev, number, files)
        prev, number = raw, number + 1
    if prev is None:
        return
    if not prev.endswith(b"\n"):
        if prev.strip():
            files.lines += 1
            files.torn = 1
        return
    _parse_line(prev, number, files)


def _parse_line(raw: bytes, number: int, files: RunFiles) -> None:
    if not raw.strip():
        return
    files.lines += 1
    try:
        rec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        files.damaged.append((number, "not UTF-8 text"))
        return
    except json.JSONDecodeError as exc:
        files.damaged.append((number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
        return
    except RecursionError:
        files.damaged.append((number, "JSON nested too deeply"))
        return
    if not (isinstance(rec, dict) and isinstance(rec.get("type"), str)):
        files.damaged.append((number, "not a record (a JSON object with a string 'type')"))
        return
    if rec["type"] == "diag":
        bad = _non_number(rec)
        if bad is not None:
            files.damaged.append((number, bad))
            return
    files.records.setdefault(rec["type"], []).append(rec)


def _non_number(rec: dict[str, Any]) -> str | None:
    """Per-tensor diagnostics must be numbers or null (else a damaged or foreign log)."""
    for k, v in rec.items():
        if "/" in k and v is not None and (isinstance(v, bool) or not isinstance(v, (int,
                                                                                     float))):
            return (f"diag {k} = {json.dumps(v)[:40]} at step {rec.get('step')!r} is not a "
                    "number")
    return None


def as_f64(t: Any) -> np.ndarray:
    """A tensor (any float dtype) as a float64 numpy array (exact: every float32/bf16/fp16
    value is a float64 value)."""
    return t.detach().cpu().double().numpy() if hasattr(t, "detach") else np.asarray(
        t, dtype=np.float64)


def unit_roundoff(dtype: str | None) -> float:
    """u of a dtype name (float32 when unknown: the trainer's parameters are float32)."""
    return UNIT_ROUNDOFF.get(str(dtype or "float32").replace("torch.", ""), 2.0 ** -24)


def gamma(n: int, u: float) -> float:
    r""":math:`\gamma_n = n u / (1 - n u)`: a sum of n terms computed in floating point in ANY
    order (sequential, pairwise, blocked, prefix sums) has relative error at most
    :math:`\gamma_{n-1}` with respect to the sum of the absolute values (every term takes part in
    at most n - 1 roundings; Higham 2002, Lemma 3.1 and §4.2). We do not assume how the engine
    sums: the bound holds for every order. Capped at 1 when nu >= 1/2."""
    nu = max(n, 1) * u
    return nu / (1.0 - nu) if nu < 0.5 else 1.0
