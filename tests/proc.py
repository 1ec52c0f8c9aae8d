"""Run a command whose descendants may outlive it (``torchrun`` starts its ranks in their own
sessions): every process started gets an environment tag, and on a timeout every process
carrying the tag is killed, so a hung rank can neither stall the suite (holding the output
pipes open) nor be left orphaned."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

TAG = "QOPT_TEST_PROCESS_TAG"


def _tagged(tag: str) -> list[int]:
    """PIDs whose environment holds ``TAG=tag`` (Linux /proc; elsewhere none are found)."""
    needle = f"{TAG}={tag}".encode()
    pids = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


def run(args: list[str], *, timeout: float, env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run(args, capture_output=True, text=True)`` that, on a timeout, kills the
    whole tagged tree and raises ``subprocess.TimeoutExpired``."""
    tag = uuid.uuid4().hex
    env = {**(os.environ if env is None else env), TAG: tag}
    p = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in _tagged(tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        out, err = p.communicate(timeout=30)
        raise subprocess.TimeoutExpired(args, timeout, out, err) from None
    return subprocess.CompletedProcess(args, p.returncode, out, err)
