r"""The manifest of a finished run: SHA-256 of every file the final phase writes, and the check
that a finished run's files are still the ones it wrote.

``RUN_DIR/manifest.json`` (written atomically by :func:`write_finished`, *before*
``result.json``, whose bytes are known before they are written)::

    {"format": "qopt-run-manifest", "version": 1, "config_hash": "<the run's identity>",
     "files": {"model.pt": {"sha256": "<64 hex>", "bytes": N}, "quantized.pt": ...,
               "latent.pt": ..., "result.json": ...}}

``result.json`` stays the mark of a finished run (written last): a run killed after the
manifest and before ``result.json`` is unfinished and its resume redoes the final phase.

:func:`read_finished` is the one reader of a finished run's result (``qopt train`` rerun
printing the stored result, studies collecting results, ``qopt reproduce``): every listed file
must exist as a regular file of the recorded size and SHA-256, and ``result.json`` must carry
the manifest's ``config_hash``; anything else is :class:`RunDamaged` naming the file and what
is wrong — a damaged result is never reported as a result. A finished run without a manifest
(written by a qopt before this record existed, or the manifest was removed) cannot be verified
and is refused the same way, with the advice to rerun it.

SOURCE: derived here (content addressing: a digest over the exact bytes, as for checkpoints).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

from qopt.io import atomic_write_bytes, atomic_write_json, to_json

__all__ = ["MANIFEST", "RunDamaged", "read_finished", "read_finished_run",
           "write_finished"]

MANIFEST = "manifest.json"
_FORMAT = "qopt-run-manifest"
_HINT = ("rerun it with --no-resume (or, in a study, delete the run directory and rerun the "
         "study), or restore the original files")


class RunDamaged(ValueError):
    """A finished run's files are not the ones it wrote (the message names the file)."""


def _entry(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def write_finished(run_dir: str | os.PathLike, config_hash: str, torch_files: dict[str, Any],
                   result: dict[str, Any]) -> None:
    """Write ``torch_files`` (name -> object, ``torch.save``-d), then the manifest, then
    ``result.json``; each atomically."""
    import torch

    run_dir = Path(run_dir)
    files = {}
    for name, obj in torch_files.items():
        buf = io.BytesIO()
        torch.save(obj, buf)
        data = buf.getvalue()
        atomic_write_bytes(run_dir / name, data)
        files[name] = _entry(data)
    text = (to_json(result) + "\n").encode("utf-8")
    files["result.json"] = _entry(text)
    atomic_write_json(run_dir / MANIFEST, {"format": _FORMAT, "version": 1,
                                           "config_hash": config_hash, "files": files})
    atomic_write_bytes(run_dir / "result.json", text)


def _read_regular(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (refused by type and size before
    reading: no FIFO, device or oversized file is read)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise RunDamaged(f"{str(path)!r} is missing ({what}); {_HINT}") from None
    except OSError as exc:
        raise RunDamaged(f"{str(path)!r} cannot be read ({exc.strerror or exc}); {_HINT}"
                         ) from None
    if not stat.S_ISREG(st.st_mode):
        raise RunDamaged(f"{str(path)!r} is not a regular file ({what}); {_HINT}")
    if st.st_size > limit:
        raise RunDamaged(f"{str(path)!r} was changed after the run finished ({st.st_size} "
                         f"bytes, {limit} recorded); {_HINT}")
    try:
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise RunDamaged(f"{str(path)!r} cannot be read ({exc.strerror or exc}); {_HINT}"
                         ) from None


def _manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MANIFEST
    if not path.exists():
        raise RunDamaged(f"run directory {str(run_dir)!r} has a result.json but no {MANIFEST} "
                         "(finished by an older qopt, or the record was removed): its result "
                         f"and weights cannot be verified; {_HINT}")
    data = _read_regular(path, 1 << 20, "the record of the finished run's files")
    try:
        m = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RunDamaged(f"{str(path)!r} is not valid JSON ({exc}); {_HINT}") from None
    files = m.get("files") if isinstance(m, dict) else None
    ok = isinstance(m, dict) and m.get("format") == _FORMAT and m.get("version") == 1 \
        and isinstance(m.get("config_hash"), str) and isinstance(files, dict) \
        and "result.json" in files and all(
            isinstance(e, dict) and isinstance(e.get("sha256"), str)
            and isinstance(e.get("bytes"), int) and not isinstance(e.get("bytes"), bool)
            and e["bytes"] >= 0 for e in files.values()) \
        and all(isinstance(k, str) and "/" not in k and k not in ("", ".", "..")
                for k in files)
    if not ok:
        raise RunDamaged(f"{str(path)!r} is not a qopt run manifest; {_HINT}")
    return m


def read_finished(run_dir: str | os.PathLike, config_hash: str | None = None
                  ) -> dict[str, Any]:
    """The verified ``result.json`` of the finished run in ``run_dir`` (module docstring).

    Args:
        config_hash: the identity the caller expects (its request or ``config.json``); None
            checks the files against the manifest only.

    Raises:
        RunDamaged: a file is missing, not a regular file, or not the one the run wrote; the
            manifest is missing or malformed; the result belongs to another identity.
    """
    run_dir = Path(run_dir)
    m = _manifest(run_dir)
    data = b""
    for name, e in m["files"].items():
        path = run_dir / name
        what = "written when the run finished"
        got = _read_regular(path, e["bytes"], what)
        if len(got) != e["bytes"]:
            raise RunDamaged(f"{str(path)!r} was changed or truncated after the run finished "
                             f"({len(got)} bytes, {e['bytes']} recorded); {_HINT}")
        sha = hashlib.sha256(got).hexdigest()
        if sha != e["sha256"]:
            raise RunDamaged(f"{str(path)!r} was changed after the run finished (sha256 "
                             f"{e['sha256'][:12]}... recorded, {sha[:12]}... now); {_HINT}")
        if name == "result.json":
            data = got
    res_path = run_dir / "result.json"
    try:
        result = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # only if the manifest was forged too
        raise RunDamaged(f"{str(res_path)!r} is not valid JSON ({exc}); {_HINT}") from None
    if not isinstance(result, dict) or not isinstance(result.get("final"), dict):
        raise RunDamaged(f"{str(res_path)!r} is not a qopt run result; {_HINT}")
    for who, h in (("result.json", result.get("config_hash")), ("the request", config_hash)):
        if who == "the request" and h is None:
            continue
        if h != m["config_hash"]:
            raise RunDamaged(f"run directory {str(run_dir)!r}: {who} has config_hash {h!r}, "
                             f"its {MANIFEST} {m['config_hash']!r}: the files are of another "
                             f"run; {_HINT}")
    return result


def read_finished_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """:func:`read_finished` against the identity the run directory's ``config.json``
    records (a missing or unreadable ``config.json`` is damage too)."""
    run_dir = Path(run_dir)
    try:
        with open(run_dir / "config.json", encoding="utf-8") as fh:
            own = json.load(fh).get("config_hash")
    except (OSError, ValueError, AttributeError):
        own = None
    if not isinstance(own, str):
        raise RunDamaged(f"run directory {str(run_dir)!r}: config.json is missing, unreadable "
                         f"or records no config_hash; {_HINT}")
    return read_finished(run_dir, own)
