"""Run a user's quantizer file in a child process, so that nothing it does can stop, hang or fool
the verifier.

``verify_quantizer("path.py:func", ...)`` (and ``qopt verify quantizer``) imports the file in a
child Python process (:mod:`proofs_check._child`) and calls the function there, one input per
request, with a per-call timeout:

* an exception, ``sys.exit()`` or ``raise SystemExit`` inside the function: a failure of the
  ``contract`` check on that input (the child reports it and keeps serving);
* no answer within ``timeout`` seconds, or a dead child (``os._exit``, a segfault, an
  out-of-memory kill): a failure on that input; the child is killed and a fresh one started for
  the next call. Such an input is never run again (the same failure is returned at once), and
  once the time lost to timeouts and restarts exceeds :func:`abnormal_budget` (max(30 s, 5 x
  timeout)) the remaining calls are *skipped* (not run, and counted neither as passes nor
  failures): a quantizer that hangs or dies costs a bounded time;
* a file that cannot be imported at all (missing, syntax error, an exception or ``sys.exit`` at
  import, no such function, an import that does not finish in ``load_timeout``):
  :class:`QuantizerLoadError` (at the CLI: exit 2).

The function's prints go to the child's stderr (kept out of the protocol, shown only in errors).
Arrays travel as raw float64 bytes with a JSON header: nothing is unpickled on either side.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from proofs_check.adapter import Output, QuantizerCaller, QuantizerError

__all__ = ["DEFAULT_TIMEOUT", "IsolatedCaller", "QuantizerLoadError", "abnormal_budget",
           "load_target"]

#: seconds one call of the user's function may take (``--timeout``)
DEFAULT_TIMEOUT = 10.0
#: seconds the child may take to start and import the file (at least this, or 6 x timeout)
LOAD_TIMEOUT = 60.0
#: seconds lost to timeouts and restarts after which further calls are skipped: at least this,
#: or ABNORMAL_TIMEOUTS x timeout
ABNORMAL_SECONDS = 30.0
ABNORMAL_TIMEOUTS = 5


def abnormal_budget(timeout: float) -> float:
    """Seconds of timeouts and restarts tolerated before further calls are skipped."""
    return max(ABNORMAL_SECONDS, ABNORMAL_TIMEOUTS * timeout)


class QuantizerLoadError(ValueError):
    """The target ``PATH.py:FUNC`` cannot be loaded at all (the message says why)."""


# ----------------------------------------------------------------------------- loading
def split_target(target: str) -> tuple[Path, str]:
    """``PATH.py:FUNC`` -> (path, dotted name); ``QuantizerLoadError`` if malformed/missing."""
    if not isinstance(target, str):
        raise TypeError(f"target must be a 'PATH.py:FUNC' string, got {type(target).__name__}")
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise QuantizerLoadError(f"expected PATH.py:FUNC, got {target!r}")
    p = Path(path)
    if not p.is_file():
        raise QuantizerLoadError(f"file {path!r} does not exist")
    return p, name


def load_target(target: str) -> Callable[[Any], Any]:
    """Import ``PATH.py`` and return ``FUNC`` (dotted names like ``Class.method`` allowed), in
    THIS process (the child uses it; prefer :class:`IsolatedCaller` for untrusted code).

    Raises:
        QuantizerLoadError: malformed target, missing file, an exception or ``SystemExit`` at
            import, missing or non-callable FUNC.
    """
    p, name = split_target(target)
    spec = importlib.util.spec_from_file_location(f"_qopt_verify_{p.stem}", p)
    if spec is None or spec.loader is None:
        raise QuantizerLoadError(f"cannot import {str(p)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(p.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:
        raise QuantizerLoadError(f"importing {str(p)!r} called sys.exit({exc.code!r})") from None
    except Exception as exc:
        raise QuantizerLoadError(f"importing {str(p)!r} failed: {type(exc).__name__}: "
                                 f"{exc}") from None
    finally:
        sys.path.pop(0)
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise QuantizerLoadError(f"{str(p)!r} has no attribute {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise QuantizerLoadError(f"{name!r} in {str(p)!r} is not callable")
    return obj


# ----------------------------------------------------------------------------- wire format
_LEN = struct.Struct(">II")  # header bytes, payload bytes


def send(fd: int, header: dict[str, Any], payload: bytes = b"") -> None:
    """One message: two lengths, a JSON header, raw bytes."""
    head = json.dumps(header).encode("utf-8")
    data = _LEN.pack(len(head), len(payload)) + head + payload
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def receive(fd: int, deadline: float | None = None) -> tuple[dict[str, Any], bytes]:
    """The next message (``TimeoutError`` past ``deadline``, ``EOFError`` if the peer died)."""
    nh, npay = _LEN.unpack(_read_exact(fd, _LEN.size, deadline))
    head = json.loads(_read_exact(fd, nh, deadline).decode("utf-8"))
    return head, _read_exact(fd, npay, deadline)


# ----------------------------------------------------------------------------- parent side
class IsolatedCaller:
    """The :class:`~proofs_check.adapter.QuantizerCaller` interface, with ``fn`` running in a
    child process (see the module docstring). Use as a context manager or call :meth:`close`.

    Args:
        target: ``PATH.py:FUNC``.
        backend, dtype, axis: as for :class:`QuantizerCaller`.
        timeout: seconds per call (> 0).
        load_timeout: seconds to start and import (default max(60, 6 x timeout)).

    Raises:
        QuantizerLoadError: the file cannot be loaded (checked at construction).
        ValueError: bad backend, dtype or timeout.
    """

    def __init__(self, target: str, backend: str, dtype: str, axis: int | None,
                 timeout: float = DEFAULT_TIMEOUT, load_timeout: float | None = None) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not timeout > 0 or timeout == float("inf"):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        split_target(target)
        self._local = QuantizerCaller(lambda w: w, backend, dtype, axis)  # casting, parsing
        self.target, self.backend, self.axis = target, backend, axis
        self.np_dtype, self.dtype_name = self._local.np_dtype, self._local.dtype_name
        self.timeout = float(timeout)
        self.load_timeout = float(load_timeout or max(LOAD_TIMEOUT, 6 * self.timeout))
        self.abnormal: dict[bytes, QuantizerError] = {}  # input -> its timeout / death
        self.lost_s = 0.0  # seconds spent in timed-out calls and restarts
        self.name = target
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        try:
            self._start(first=True)
        except BaseException:
            self.close()
            raise

    # -- process management
    def _start(self, first: bool = False) -> None:
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "proofs_check._child", self.target, self.backend,
             self.dtype_name, "none" if self.axis is None else str(self.axis)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        try:
            head, _ = receive(self._proc.stdout.fileno(), time.monotonic() + self.load_timeout)
        except TimeoutError:
            self._kill()
            raise QuantizerLoadError(f"importing {self.target!r} did not finish within "
                                     f"{self.load_timeout:g} s") from None
        except (EOFError, ValueError, struct.error):
            status = self._kill()
            raise QuantizerLoadError(f"the process importing {self.target!r} {status}"
                                     f"{self._stderr_tail()}") from None
        if not head.get("ok"):
            self._kill()
            raise QuantizerLoadError(head.get("error", "cannot load the quantizer"))
        if first:
            self.name = head.get("name", self.target)

    def _stderr_tail(self, lines: int = 3) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            text = self._stderr.read()[-4000:].decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return f" (its last output: {' | '.join(text[-lines:])})" if text else ""

    def _kill(self) -> str:
        """Stop the child; returns how it ended, in words."""
        p, self._proc = self._proc, None
        if p is None:
            return "was not running"
        if p.poll() is None:
            p.kill()
        code = p.wait()
        for f in (p.stdin, p.stdout):
            try:
                f.close()
            except OSError:
                pass
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with status {code}"

    def close(self) -> None:
        """Stop the child process."""
        if self._proc is not None:
            try:
                self._proc.stdin.close()  # the child exits at end of input
                self._proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> IsolatedCaller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - safety net
        try:
            self.close()
        except Exception:
            pass

    # -- the QuantizerCaller interface
    def cast(self, w: np.ndarray) -> np.ndarray:
        return self._local.cast(w)

    def run(self, w: np.ndarray) -> tuple[Output, bool]:
        """(fn(w) normalised, whether fn modified its input), computed in the child."""
        w = np.ascontiguousarray(w, dtype=np.float64)
        key = repr(w.shape).encode() + w.tobytes()
        if key in self.abnormal:
            known = self.abnormal[key]
            raise QuantizerError(str(known), w, known.kind)
        if self.lost_s >= abnormal_budget(self.timeout):
            raise QuantizerError(f"not called: fn already timed out or died on "
                                 f"{len(self.abnormal)} inputs ({self.lost_s:.0f} s lost)", w,
                                 "skipped")
        t0 = time.monotonic()
        if self._proc is None:
            try:
                self._start()
            except QuantizerLoadError as exc:
                err = QuantizerError(f"could not restart the quantizer process: {exc}", w, "died")
                self.abnormal[key] = err
                self.lost_s += time.monotonic() - t0
                raise err from None
            self.lost_s += time.monotonic() - t0  # a restart after a timeout or death
            t0 = time.monotonic()
        try:
            send(self._proc.stdin.fileno(), {"shape": list(w.shape)}, w.tobytes())
            head, data = receive(self._proc.stdout.fileno(), time.monotonic() + self.timeout)
        except TimeoutError:
            self._kill()
            err = QuantizerError(f"fn did not return within {self.timeout:g} s (timeout)", w,
                                 "timeout")
            self.abnormal[key] = err
            self.lost_s += time.monotonic() - t0
            raise err from None
        except (EOFError, BrokenPipeError, ValueError, struct.error):
            tail = self._stderr_tail()
            status = self._kill()
            err = QuantizerError(f"the process running fn {status} during the call{tail}", w,
                                 "died")
            self.abnormal[key] = err
            self.lost_s += time.monotonic() - t0
            raise err from None
        if not head.get("ok"):
            raise QuantizerError(head.get("error", "fn failed"), w, head.get("kind", "raised"))
        q = np.frombuffer(data[: w.nbytes], dtype=np.float64).reshape(w.shape).copy()
        scale = None
        if head.get("scale") is not None:
            scale = np.frombuffer(data[w.nbytes:], dtype=np.float64).copy()
        return Output(q, scale), bool(head.get("modified"))

    def __call__(self, w: np.ndarray) -> Output:
        return self.run(w)[0]
