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

* a quantizer that forks (both copies answering), forges or breaks the protocol (a reply that
  is not the one asked for: wrong sequence number or process, a malformed header, a payload of
  the wrong size, bytes beyond the reply), or leaves processes behind after a call (children,
  grandchildren that called ``setsid()``, orphans): a failure of the ``contract`` check on that
  input; every process of the child's tree is killed and a fresh child serves the next call.

**Containment (Linux).** The child runs in its own session (``start_new_session``) with a tag in
its environment that its descendants inherit, and the verifier is a *child subreaper*
(``prctl(PR_SET_CHILD_SUBREAPER)``) while an :class:`IsolatedCaller` is open, so an orphaned
descendant (a double fork, ``setsid()``) is re-parented to the verifier, not to init. After
every call the child's process tree (``/proc/PID/task/*/children``) and the verifier's adopted
children are looked at: anything there is a leftover. Killing walks the tree, the adopted
orphans and, finally, every process of ``/proc`` carrying the tag, with SIGKILL until none is
left, and reaps the adopted ones; :meth:`IsolatedCaller.close` does that sweep once more. The
child also dies with the verifier (``PR_SET_PDEATHSIG``). Elsewhere (no ``/proc``) the child's
process group is killed, and leftovers that left the group cannot be found.

The function's prints go to the child's stderr (kept out of the protocol, shown only in errors).
Arrays travel as raw float64 bytes with a JSON header: nothing is unpickled on either side.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
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


class _ProtocolError(Exception):
    """The child's reply is not a well-formed answer to the request (forged or broken)."""


# ----------------------------------------------------------------------------- containment
#: environment variable whose value tags every process of a child's tree
TAG_ENV = "QOPT_VERIFY_QUANTIZER_TAG"
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37
_subreaper_users = 0
_subreaper_before = 0


def _prctl(option: int, arg: int) -> int | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if option == _PR_GET_CHILD_SUBREAPER:
            out = ctypes.c_int(0)
            return out.value if libc.prctl(option, ctypes.byref(out), 0, 0, 0) == 0 else None
        return int(libc.prctl(option, arg, 0, 0, 0))
    except (OSError, AttributeError):  # pragma: no cover
        return None


def _subreaper(on: bool) -> None:
    """Make this process the child subreaper while any IsolatedCaller is open (nested: counted),
    then restore what it was."""
    global _subreaper_users, _subreaper_before
    if on:
        if _subreaper_users == 0:
            _subreaper_before = _prctl(_PR_GET_CHILD_SUBREAPER, 0) or 0
            _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        _subreaper_users += 1
    elif _subreaper_users > 0:
        _subreaper_users -= 1
        if _subreaper_users == 0 and not _subreaper_before:
            _prctl(_PR_SET_CHILD_SUBREAPER, 0)


def _children(pid: int) -> set[int] | None:
    """Direct children of pid (zombies included) from /proc/PID/task/*/children; None where the
    kernel does not provide them."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None if not os.path.isdir("/proc/self/task") else set()
    out: set[int] = set()
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children", encoding="ascii") as f:
                out.update(int(x) for x in f.read().split())
        except FileNotFoundError:
            if t == str(pid) and os.path.isdir(f"/proc/{pid}"):
                return None  # no children file: CONFIG_PROC_CHILDREN is off
        except (OSError, ValueError):
            pass
    return out


def _tree(root: int) -> set[int]:
    """root's descendants (not root), by the children files."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        for c in _children(todo.pop()) or ():
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def _has_tag(pid: int, tag: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return tag in f.read().split(b"\0")
    except OSError:
        return False


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True  # gone


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


def receive(fd: int, deadline: float | None = None, max_header: int | None = None,
            max_payload: int | None = None) -> tuple[dict[str, Any], bytes]:
    """The next message (``TimeoutError`` past ``deadline``, ``EOFError`` if the peer died,
    ``ValueError`` for lengths above the given maxima)."""
    nh, npay = _LEN.unpack(_read_exact(fd, _LEN.size, deadline))
    if (max_header is not None and nh > max_header) or (max_payload is not None
                                                        and npay > max_payload):
        raise ValueError(f"a message of {nh} + {npay} bytes (at most {max_header} + "
                         f"{max_payload} expected)")
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
        self._tag = f"{os.getpid()}-{secrets.token_hex(8)}"
        self._tag_item = f"{TAG_ENV}={self._tag}".encode()
        self._seq = 0
        self._baseline = _children(os.getpid()) or set()  # our children before the first child
        self._adopted: set[int] = set()  # leftovers that are (or will be) our children
        _subreaper(True)
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
        env[TAG_ENV] = self._tag
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "proofs_check._child", self.target, self.backend,
             self.dtype_name, "none" if self.axis is None else str(self.axis)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
            start_new_session=True)
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

    def _leftovers(self) -> set[int]:
        """Processes of the child's tree other than the child (zombies included), and tagged
        processes re-parented to this process (orphans: we are the subreaper) with their trees."""
        out: set[int] = set()
        if self._proc is not None:
            out |= _tree(self._proc.pid)
            self._adopted |= out  # re-parented to us once the child dies: reaped by _reap
        ours = _children(os.getpid())
        if ours:
            known = self._baseline | ({self._proc.pid} if self._proc is not None else set())
            for c in ours - known:
                if c in self._adopted or _has_tag(c, self._tag_item):
                    self._adopted.add(c)
                    out.add(c)
                    out |= _tree(c)
        return out

    def _sweep(self, timeout: float = 10.0) -> None:
        """SIGKILL every process of the child's tree, the adopted orphans and every process in
        /proc with our tag, until none is left alive (bounded by ``timeout``); reap the adopted
        ones."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self._leftovers()
            if os.path.isdir("/proc"):
                for d in os.listdir("/proc"):
                    if d.isdigit() and int(d) != os.getpid() and _has_tag(int(d), self._tag_item):
                        pids.add(int(d))
            if self._proc is not None:
                pids.discard(self._proc.pid)
            alive = [p for p in pids if not _zombie(p)]
            for p in alive:
                with contextlib.suppress(OSError):
                    os.kill(p, signal.SIGKILL)
            self._reap()
            if not alive or time.monotonic() > deadline:
                return
            time.sleep(0.005)

    def _reap(self) -> None:
        """Collect the exit status of adopted orphans (our children now), so no zombie stays."""
        ours = _children(os.getpid()) or set()
        for p in list(self._adopted):
            if p not in ours:
                self._adopted.discard(p)
                continue
            with contextlib.suppress(ChildProcessError, OSError):
                if os.waitpid(p, os.WNOHANG)[0] == p:
                    self._adopted.discard(p)

    def _kill(self) -> str:
        """Stop the child and everything it started; returns how the child ended, in words."""
        p, self._proc = self._proc, None
        if p is None:
            return "was not running"
        with contextlib.suppress(OSError):
            os.killpg(p.pid, signal.SIGKILL)  # its session's group (all that did not leave it)
        if p.poll() is None:
            p.kill()
        code = p.wait()
        self._sweep()
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
        """Stop the child process and every process of its tree (module docstring)."""
        if self._proc is not None:
            try:
                self._proc.stdin.close()  # the child exits at end of input
                self._proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill()
        if self._tag is not None:
            self._sweep()
            self._tag = None
            _subreaper(False)
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
        self._seq += 1
        try:
            send(self._proc.stdin.fileno(), {"shape": list(w.shape), "seq": self._seq},
                 w.tobytes())
            head, data = receive(self._proc.stdout.fileno(), time.monotonic() + self.timeout,
                                 max_header=1 << 16, max_payload=2 * w.nbytes + 8)
            reply = self._parse(head, data, w)
            stray = self._leftovers() | self._extra_bytes()
        except TimeoutError:
            self._kill()
            err = QuantizerError(f"fn did not return within {self.timeout:g} s (timeout)", w,
                                 "timeout")
            self.abnormal[key] = err
            self.lost_s += time.monotonic() - t0
            raise err from None
        except (EOFError, BrokenPipeError):
            tail = self._stderr_tail()
            status = self._kill()
            err = QuantizerError(f"the process running fn {status} during the call{tail}", w,
                                 "died")
            self.abnormal[key] = err
            self.lost_s += time.monotonic() - t0
            raise err from None
        except (_ProtocolError, ValueError, struct.error) as exc:
            self._kill()
            err = QuantizerError(f"the quantizer process broke the protocol ({exc}): fn forked "
                                 "(two processes answering) or wrote to the verifier's pipe",
                                 w, "contract")
            self.abnormal[key] = err
            self.lost_s += time.monotonic() - t0
            raise err from None
        if stray:
            pids = sorted(stray - {-1})
            n = len(pids)
            self._kill()
            what = (f"{n} process(es) it started (pids {', '.join(map(str, pids[:5]))}"
                    f"{', ...' if n > 5 else ''}) still existed after it returned"
                    if n else "bytes beyond its answer were on the verifier's pipe")
            err = QuantizerError(f"fn left processes or forged output behind: {what}; a quantizer "
                                 "must not fork or leave processes running (all killed)", w,
                                 "contract")
            self.abnormal[key] = err
            self.lost_s += time.monotonic() - t0
            raise err from None
        return reply

    def _extra_bytes(self) -> set[int]:
        """{-1} when more bytes than one reply are waiting on the pipe (a second answer, a
        forgery), else empty. An end of file (the child exited after answering) is not."""
        fd = self._proc.stdout.fileno()
        if not select.select([fd], [], [], 0)[0]:
            return set()
        return set() if self._proc.poll() is not None else {-1}

    def _parse(self, head: Any, data: bytes, w: np.ndarray) -> tuple[Output, bool]:
        """The reply to request ``self._seq`` (else _ProtocolError, or QuantizerError from fn)."""
        if not isinstance(head, dict):
            raise _ProtocolError(f"a reply header that is a {type(head).__name__}")
        if head.get("seq") != self._seq or head.get("pid") != self._proc.pid:
            raise _ProtocolError(f"a reply for request {head.get('seq')!r} from process "
                                 f"{head.get('pid')!r}, expected request {self._seq} from "
                                 f"{self._proc.pid}")
        if not head.get("ok"):
            kind = head.get("kind", "raised")
            if kind not in ("raised", "contract") or data:
                raise _ProtocolError(f"a failure reply of kind {kind!r}")
            raise QuantizerError(str(head.get("error", "fn failed"))[:2000], w, kind)
        n_scale = head.get("scale")
        if n_scale is not None and (isinstance(n_scale, bool) or not isinstance(n_scale, int)
                                    or not 0 <= n_scale <= max(w.size, 1)):
            raise _ProtocolError(f"a scale count {n_scale!r}")
        if len(data) != w.nbytes + 8 * (n_scale or 0):
            raise _ProtocolError(f"{len(data)} payload bytes for an input of {w.size} values "
                                 f"and {n_scale or 0} scale values")
        q = np.frombuffer(data[: w.nbytes], dtype=np.float64).reshape(w.shape).copy()
        scale = None
        if n_scale is not None:
            scale = np.frombuffer(data[w.nbytes:], dtype=np.float64).copy()
        return Output(q, scale), head.get("modified") is True

    def __call__(self, w: np.ndarray) -> Output:
        return self.run(w)[0]
