"""The child process of :mod:`proofs_check.isolated`: import the user's file, then answer one
call per request until the end of input.

``python -m proofs_check._child PATH.py:FUNC BACKEND DTYPE AXIS``. The protocol uses the original
stdin/stdout (duplicated); the user's code sees /dev/null as stdin and the child's stderr as
stdout, so its prints cannot corrupt a message. SIGINT is ignored (the parent handles Ctrl-C and
stops the child); on Linux the child is killed when the parent dies. Each reply carries the
request's sequence number and this process's pid; a copy of the process forked by the user's
function exits at once instead of answering (the parent finds it as a leftover).
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

from proofs_check.adapter import QuantizerCaller, QuantizerError
from proofs_check.isolated import QuantizerLoadError, load_target, receive, send


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG (Linux): SIGKILL when the parent process dies; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover
        pass


def main(argv: list[str]) -> int:
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    target, backend, dtype, axis = argv
    try:
        fn = load_target(target)
        caller = QuantizerCaller(fn, backend, dtype, None if axis == "none" else int(axis))
    except (QuantizerLoadError, ValueError, TypeError) as exc:
        send(wfd, {"ok": False, "error": str(exc)})
        return 0
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", type(fn).__name__))
    me = os.getpid()
    send(wfd, {"ok": True, "name": str(name)})
    while True:
        try:
            head, data = receive(rfd)
        except EOFError:
            return 0
        w = np.frombuffer(data, dtype=np.float64).reshape(head["shape"]).copy()
        tag = {"seq": head.get("seq"), "pid": me}  # the parent matches the reply to its request
        try:
            out, modified = caller.run(w)
        except QuantizerError as exc:
            if os.getpid() != me:  # a copy forked by fn: it must not answer (the parent sees it)
                os._exit(0)
            send(wfd, {**tag, "ok": False, "error": str(exc), "kind": exc.kind})
            continue
        if os.getpid() != me:
            os._exit(0)
        q = np.ascontiguousarray(out.q, dtype=np.float64)
        scale = None if out.scale is None else np.ascontiguousarray(out.scale, dtype=np.float64)
        send(wfd, {**tag, "ok": True, "modified": bool(modified),
                   "scale": None if scale is None else int(scale.size)},
             q.tobytes() + (b"" if scale is None else scale.tobytes()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
