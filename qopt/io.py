"""The one atomic file writer of the project: temp file + fsync + rename, umask respected.

Every result file, checkpoint, report and figure is written through :func:`atomic_write`
(and every file a user hands us is read through :func:`open_regular`: a regular file of
bounded size, so that a FIFO, ``/dev/zero`` or a huge file is refused before it is read):

1. the content goes to a new temporary file ``.NAME.<random>.tmp`` in the target's directory
   (same file system, so the rename below is atomic), created with ``os.open(..., 0o666)`` so
   the process umask applies exactly as for a plain ``open(path, "w")`` (``tempfile.mkstemp``
   would create it 0600 whatever the umask);
2. the file is flushed and ``fsync``-ed (its data is on disk before it gets the final name);
3. ``os.replace`` gives it the final name (atomic on POSIX and Windows within one file system)
   and the directory is ``fsync``-ed (the rename itself is durable; skipped where directories
   cannot be opened, e.g. Windows).

A reader, or a process killed at any instruction, therefore sees the old complete file or the
new complete file, never a torn one; on any error the temporary file is removed and the old file
is left untouched.

SOURCE: standard POSIX practice (rename(2) atomicity; fsync of file then directory, as in
SQLite's and git's lock-file protocols).

The module itself imports only the standard library (torch on use, for
:func:`atomic_torch_save`) and sits at the engine level, so every layer (engine, application,
proofs_check, figures, benchmarks) may use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["MAX_TEXT_BYTES", "atomic_write", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "atomic_torch_save", "load_state_file", "open_regular",
           "parse_json", "read_json_file", "read_regular_bytes", "read_text", "to_json"]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse directory fsync
        pass
    finally:
        os.close(fd)


def _create_temp(path: Path) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    raise FileExistsError(f"could not create a temporary file next to {str(path)!r}")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Atomically replace ``path`` by what ``write(fh)`` writes into the binary file ``fh``.

    Creates the parent directories. The new file's mode is ``0o666 & ~umask``.

    Raises:
        OSError: the directory is not writable, the disk is full, ... (the old file is kept).
        whatever ``write`` raises (the old file is kept, no temporary file is left).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically replace ``path`` by ``data``."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically replace ``path`` by the UTF-8 ``text``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy_tree(src: str | os.PathLike, dst: str | os.PathLike,
                     ignore: tuple[str, ...] = ()) -> Path:
    """Copy the directory ``src`` to ``dst`` atomically: into a temporary sibling of ``dst``,
    then renamed (``dst`` must not exist: a directory rename does not replace a non-empty
    one); names matching ``ignore`` (glob patterns) are left out; ``src`` is left as it is."""
    import shutil

    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.copy-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(*ignore) if ignore else None)
    os.replace(tmp, dst)
    _fsync_dir(dst.parent)
    return dst


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "detach") and hasattr(obj, "numel"):  # torch.Tensor, without importing torch
        return obj.item() if obj.numel() == 1 else obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "spec"):  # quantization sets
        return obj.spec
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def to_json(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text; tensors and numpy values become numbers or lists, quantization sets
    their spec, paths strings; NaN/Inf are written as ``null``."""
    def default(o: Any) -> Any:
        return _nan_to_none(_jsonable(o))

    return json.dumps(_nan_to_none(obj), indent=indent, default=default, allow_nan=False)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented strict JSON (see :func:`to_json`)."""
    return atomic_write_text(path, to_json(obj) + "\n")


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically ``torch.save`` ``obj`` to ``path`` (torch imported on use)."""
    import torch

    return atomic_write(path, lambda fh: torch.save(obj, fh))


# --------------------------------------------------------------------------- reading
#: the largest text file (a config, a study file, a result record) read whole: a user's TOML or
#: JSON is kilobytes; a long run's result.json with its history a few megabytes
MAX_TEXT_BYTES = 64 << 20


def open_regular(path: str | os.PathLike, what: str | None = None,
                 max_bytes: int | None = None) -> IO[bytes]:
    """Open ``path`` for reading only if it is a regular file (links followed) of at most
    ``max_bytes``: checked on the open descriptor before a byte is read, so a FIFO never blocks
    (opened non-blocking), ``/dev/zero`` or a terminal is never read, and a file swapped between
    check and read cannot slip through.

    Raises:
        FileNotFoundError: no such file (the message names ``what``).
        ValueError: not a regular file (a directory, FIFO, device, socket), or too large.
        OSError: unreadable (permissions, ...).
    """
    import stat

    name = what or repr(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{name} is a directory, not a file") from None
    except OSError as exc:
        raise OSError(exc.errno, f"{name}: cannot be read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO (named pipe)"
                    if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode)
                    or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                    else "not a regular file")
            raise ValueError(f"{name} is {kind}, not a regular file; refused")
        if max_bytes is not None and st.st_size > max_bytes:
            raise ValueError(f"{name} is {st.st_size} bytes, more than the {max_bytes} bytes "
                             f"such a file may have; refused")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: str | os.PathLike, what: str | None = None,
                       max_bytes: int | None = None) -> bytes:
    """The bytes of a regular file (:func:`open_regular`)."""
    with open_regular(path, what, max_bytes) as fh:
        return fh.read()


def read_text(path: str | os.PathLike, what: str | None = None,
              max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 text file a user hands us (:func:`open_regular`); ``ValueError`` naming it when
    it is not UTF-8."""
    data = read_regular_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what or repr(str(path))} is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})") from None


def parse_json(text: str, what: str) -> Any:
    """``json.loads`` with every failure one ``ValueError`` naming ``what``: malformed JSON and
    nesting too deep for the parser (``RecursionError``)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply to be read (not a file we wrote)") \
            from None
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


def read_json_file(path: str | os.PathLike, what: str | None = None,
                   max_bytes: int = MAX_TEXT_BYTES) -> Any:
    """A JSON file: :func:`read_text` then :func:`parse_json`."""
    name = what or repr(str(path))
    return parse_json(read_text(path, name, max_bytes), name)


def load_state_file(path: str | os.PathLike, what: str | None = None,
                    map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings and plain containers
    only, so a crafted file cannot run code; every failure is one ``ValueError`` naming the file
    (``what``, default the path) and the reason.

    Raises:
        ValueError: missing or unreadable file, not a torch file, damaged, or holding other
            objects (the refused global is named).
    """
    import pickle
    import zipfile

    import torch

    name = what or repr(str(path))
    try:
        fh = open_regular(path, name)  # no FIFO, device or directory reaches torch.load
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except OSError as exc:
        raise ValueError(str(exc)) from None
    try:
        with fh:
            return torch.load(fh, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except pickle.UnpicklingError as exc:
        why = _unpickling_reason(exc)
        if "global" in why.lower():
            raise ValueError(f"{name} holds objects other than tensors and plain data; refused "
                             f"(files are loaded with weights_only=True): {why}") from None
        raise ValueError(f"{name} is not a readable torch file (damaged or another format): "
                         f"{why}") from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
            AttributeError, IndexError, TypeError, OverflowError, MemoryError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{name} is not a readable torch file (damaged or another format): "
                         f"{first}") from None


def _unpickling_reason(exc: BaseException) -> str:
    """The informative line of torch's weights-only unpickling error (its message is a page of
    advice around one line of reason)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if "GLOBAL" in ln or "Unsupported global" in ln:
            ln = ln.partition("WeightsUnpickler error:")[2].strip() or ln
            return ln.split(". Please")[0]
    for i, ln in enumerate(lines):
        if "WeightsUnpickler error" in ln:
            rest = ln.partition("WeightsUnpickler error")[2].lstrip(": ").strip()
            return rest or (lines[i + 1] if i + 1 < len(lines) else ln)
    return lines[-1] if lines else type(exc).__name__
