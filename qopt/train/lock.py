"""The run-directory lock: one writer per run directory.

:class:`RunLock` holds an exclusive ``flock(2)`` on ``RUN_DIR/.lock`` while a run trains. The
kernel releases the lock when its holder dies, however it dies (kill -9 included), so a stale
lock never blocks a rerun. The holder writes its pid, host and start time into the file; a second
writer fails at once with :class:`RunLockedError` naming them (at the CLI: one line, exit 2).

Limits (documented, not hidden): ``flock`` is advisory (only qopt processes honour it) and may
be a no-op on some network file systems; on platforms without ``fcntl`` (Windows) no lock is
taken.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "RunLock", "RunLockedError"]

LOCK_FILE = ".lock"


class RunLockedError(ValueError):
    """Another live process holds the run directory (the message names it)."""


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process (holder not yet recorded)"
    return (f"pid {info.get('pid')} on host {info.get('host', '?')} since "
            f"{info.get('started', '?')}")


class RunLock:
    """Exclusive lock of a run directory (a context manager; re-entrant use is an error).

    Args:
        run_dir: the run directory (created if missing).
        enabled: ``False`` makes it a no-op (non-zero ranks of a data-parallel run, whose
            rank 0 holds the lock).

    Raises (on enter):
        RunLockedError: another process holds it.
    """

    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.enabled = enabled and fcntl is not None
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        if not self.enabled or self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(fd)
            os.close(fd)
            raise RunLockedError(f"run directory {str(self.path.parent)!r} is in use by {who}; "
                                 "wait for it to finish or stop it, or use another output "
                                 "directory") from None
        except BaseException:
            os.close(fd)
            raise
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode("utf-8"))
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:  # pragma: no cover
            pass
        os.close(fd)  # closing the last descriptor releases the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
