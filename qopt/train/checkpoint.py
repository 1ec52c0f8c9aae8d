r"""Checkpoints of a run: checksummed, loaded without running code, the last two kept.

``RUN_DIR/checkpoint.pt`` is rewritten at the end of every epoch; the one before it is kept as
``RUN_DIR/checkpoint.prev.pt``. Contents: model ``state_dict`` (of the unwrapped module),
optimizer ``state_dict`` (the QuantOptimizer's, with its latent weights and λ/ρ/phase state),
scheduler ``state_dict``, all RNG states, the next epoch to run, the global step, the byte offset
of ``metrics.jsonl`` (and the SHA-256 of the log up to it), the per-epoch history and the torch
thread count of the writer. Loading
them restores the exact state of an uninterrupted run at the same epoch boundary (the data order
of an epoch depends on (seed, epoch) only), so a resumed run reproduces the uninterrupted one
bit for bit on the same machine.

**File format.** One header line, then the ``torch.save`` bytes of the state::

    QOPT-CHECKPOINT 1 sha256=<64 hex digits of the payload>\n<payload>

**Safety.** The payload is read with ``torch.load(weights_only=True)``: tensors, numbers,
strings and plain containers only, so a crafted file cannot run code. Every state is checked
to load that way *when it is written* (a checkpoint that could not be resumed is an error at the
epoch that writes it, not at the resume that needs it).

**Damage.** A checkpoint whose payload does not match its checksum (a flipped bit, a truncated,
zero-filled or foreign file) is refused with :class:`CheckpointError` naming the file and the
reason. :func:`load_checkpoint` then falls back to ``checkpoint.prev.pt`` (one epoch earlier:
the resumed run recomputes that epoch identically), moving the damaged file aside to
``checkpoint.pt.damaged`` and saying so with a :class:`CheckpointWarning`; when no good
checkpoint is left it raises, naming both files.

SOURCE: derived here (standard content-addressing practice: a digest over the exact bytes).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from qopt.io import (
    _unpickling_reason,
    atomic_write_bytes,
    load_state_file,
    open_regular,
    read_regular_bytes,
)

__all__ = ["CHECKPOINT", "PREVIOUS", "CheckpointError", "CheckpointIdentityError",
           "CheckpointWarning", "check_hyperparameters", "check_identity", "check_metrics_log",
           "decode_checkpoint", "encode_checkpoint", "load_checkpoint", "read_checkpoint",
           "read_state_file", "remove_checkpoints", "restore_checkpoint", "save_checkpoint"]

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
_MAGIC = b"QOPT-CHECKPOINT 1 sha256="
_HEADER_LEN = len(_MAGIC) + 64 + 1
#: keys every training checkpoint has, with their types
REQUIRED = {"model": dict, "optimizer": dict, "scheduler": dict, "rng": dict, "epoch": int,
            "step": int, "history": list, "metrics_offset": int}


class CheckpointError(ValueError):
    """A checkpoint file is damaged, foreign, or does not fit the run (a user-facing error:
    the message names the file and what is wrong)."""


class CheckpointWarning(UserWarning):
    """A damaged or missing latest checkpoint was replaced by the previous one, or the metrics
    log does not match the checkpoint."""


def encode_checkpoint(state: dict[str, Any]) -> bytes:
    """Header line with the SHA-256 of the ``torch.save`` payload, then the payload.

    Raises:
        CheckpointError: ``state`` holds something ``torch.load(weights_only=True)`` refuses.
    """
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    try:
        torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"this checkpoint state could not be loaded back safely "
                              f"(weights_only=True): {_unpickling_reason(exc)}") from None
    digest = hashlib.sha256(payload).hexdigest().encode("ascii")
    return _MAGIC + digest + b"\n" + payload


def decode_checkpoint(data: bytes, name: str = "checkpoint",
                      map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Verify the checksum of ``data`` and load its payload with ``weights_only=True``.

    Raises:
        CheckpointError: no qopt header, checksum mismatch, or a payload that is not a plain
            state (the message starts with ``name``).
    """
    if not data.startswith(_MAGIC) or len(data) < _HEADER_LEN or data[_HEADER_LEN - 1] != 0x0A:
        what = "empty" if not data.strip(b"\0") else "no qopt checkpoint header"
        raise CheckpointError(f"{name} is not a qopt checkpoint ({what}; {len(data)} bytes)")
    digest = data[len(_MAGIC):_HEADER_LEN - 1].decode("ascii", "replace")
    payload = data[_HEADER_LEN:]
    actual = hashlib.sha256(payload).hexdigest()
    if actual != digest:
        raise CheckpointError(f"{name} is damaged: checksum mismatch (stored sha256 {digest[:12]}"
                              f"..., content {actual[:12]}...; {len(payload)} payload bytes)")
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{name} holds objects other than tensors and plain data; refused "
                              f"(weights_only=True): {_unpickling_reason(exc)}") from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise CheckpointError(f"{name} cannot be read: {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{name} holds a {type(state).__name__}, not a checkpoint dict")
    return state


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """The verified state in the checkpoint file ``path`` (:func:`decode_checkpoint`), with its
    training keys checked (:data:`REQUIRED`)."""
    path = Path(path)
    try:  # a regular file only: a FIFO or /dev/zero is refused before reading (qopt.io)
        data = read_regular_bytes(path, repr(str(path)))
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"{str(path)!r} cannot be read: {exc.strerror or exc}") from None
    state = decode_checkpoint(data, repr(str(path)), map_location)
    bad = [k for k, t in REQUIRED.items()
           if not isinstance(state.get(k), t) or isinstance(state.get(k), bool)]
    if bad:
        raise CheckpointError(f"{str(path)!r} is not a qopt training checkpoint (missing or "
                              f"mistyped: {', '.join(bad)})")
    return state


def read_state_file(path: str | os.PathLike, what: str | None = None) -> Any:
    """A torch file a user names (``--init-from``): a qopt checkpoint (verified,
    :func:`decode_checkpoint`) or a plain ``torch.save`` file, both read with
    ``weights_only=True``; ``ValueError`` naming ``what`` on any failure."""
    name = what or repr(str(path))
    try:
        with open_regular(path, name) as fh:  # a regular file only (qopt.io)
            head = fh.read(len(_MAGIC))
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    except OSError as exc:
        raise ValueError(f"{name}: cannot be read: {exc.strerror or exc}") from None
    if head == _MAGIC:
        return decode_checkpoint(read_regular_bytes(path, name), name)
    return load_state_file(path, name)


def _metrics_digest(run_dir: Path, offset: int) -> str | None:
    path = run_dir / "metrics.jsonl"
    try:
        with open(path, "rb") as fh:
            data = fh.read(offset)
    except FileNotFoundError:
        return None
    return hashlib.sha256(data).hexdigest() if len(data) == offset else None


def save_checkpoint(run_dir: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``RUN_DIR/checkpoint.pt`` atomically, keeping the one it replaces as
    ``checkpoint.prev.pt`` (a kill between the two steps leaves the previous one, which
    :func:`load_checkpoint` then uses). Adds ``metrics_sha256`` when ``metrics_offset`` is set.
    """
    run_dir = Path(run_dir)
    if "metrics_offset" in state:
        state = {**state, "metrics_sha256": _metrics_digest(run_dir, int(state["metrics_offset"]))}
    state.setdefault("torch_threads", torch.get_num_threads())
    data = encode_checkpoint(state)
    cur = run_dir / CHECKPOINT
    if cur.exists():
        os.replace(cur, run_dir / PREVIOUS)
    return atomic_write_bytes(cur, data)


class CheckpointIdentityError(CheckpointError):
    """A checkpoint of another run (another identity), or one that records none."""


def check_identity(state: dict[str, Any], record: dict[str, Any], path: Path) -> None:
    """``state`` (a decoded checkpoint) must record the identity of ``record`` (the run's
    ``config.json`` identity part: :func:`qopt.train.record.run_record`).

    Raises:
        CheckpointIdentityError: naming both identities (config hashes and the differing
            fields) and the file."""
    want = record.get("config_hash")
    ident = state.get("identity")
    if not isinstance(ident, dict) or not isinstance(ident.get("config_hash"), str):
        raise CheckpointIdentityError(
            f"{str(path)!r} records no run identity (written by an older qopt, or not by this "
            f"run): it cannot be shown to belong to the run {want} in {str(path.parent)!r}; "
            "rerun with --no-resume")
    have = ident["config_hash"]
    if have != want:
        from qopt.train.identity import config_diff

        theirs = ident.get("record")
        diffs = config_diff(record, theirs) if isinstance(theirs, dict) else []
        what = f": {'; '.join(diffs)}" if diffs else ""
        raise CheckpointIdentityError(
            f"{str(path)!r} is a checkpoint of another run: its identity is {have}, this "
            f"run's is {want}{f' (this run -> the checkpoint{what})' if what else ''}; refused "
            "(resuming it would continue that run under this run's identity). Remove it from "
            f"{str(path.parent)!r} or start afresh (--no-resume)")


#: param-group keys that are not hyperparameters (the parameters themselves, their names,
#: the scheduled rate, which is checked against the schedule instead)
_NOT_HPARAMS = {"params", "names", "lr"}
#: scheduler-state keys that are progress, not configuration
_SCHED_PROGRESS = {"last_epoch", "_step_count", "_get_lr_called_within_step", "_last_lr",
                   "_is_initial"}


def _plain(v: Any) -> Any:
    """Comparable form: tuples as lists, tensors as lists, dict keys as strings."""
    if torch.is_tensor(v):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def check_hyperparameters(ckpt: dict[str, Any], optimizer: Any, scheduler: Any,
                          run_dir: str | os.PathLike) -> None:
    """The hyperparameters inside a checkpoint equal those of the optimizer and scheduler built
    from ``config.json`` (call before restoring): per param group every key but the parameters
    (momentum, weight decay, betas, eps, ``initial_lr``, the set and axis, ...); the scheduled
    ``lr`` equals ``initial_lr`` times this run's schedule factor at the checkpoint's epoch;
    the scheduler's configuration (base rates, the schedule's fields); the method, its
    arguments and the run length (QuantOptimizer's ``qopt`` entry).

    Raises:
        CheckpointIdentityError: naming the file and each differing value (checkpoint vs
            config.json)."""
    name = str(Path(run_dir) / ckpt.get("_file", CHECKPOINT))
    saved_opt, saved_sched = ckpt.get("optimizer"), ckpt.get("scheduler")
    here_opt, here_sched = optimizer.state_dict(), scheduler.state_dict()
    diffs: list[str] = []
    sg, hg = saved_opt.get("param_groups"), here_opt.get("param_groups")
    if not isinstance(sg, list) or len(sg) != len(hg):
        diffs.append(f"param groups ({len(sg) if isinstance(sg, list) else 'none'} vs "
                     f"{len(hg)})")
        sg = []
    lambdas = getattr(scheduler, "lr_lambdas", None)
    epoch = ckpt.get("epoch")
    for gi, (a, b) in enumerate(zip(sg, hg)):
        if not isinstance(a, dict):
            diffs.append(f"param group {gi} (not a table)")
            continue
        for k in sorted(set(a) | set(b)):
            if k in _NOT_HPARAMS:
                continue
            va, vb = _plain(a.get(k, "absent")), _plain(b.get(k, "absent"))
            if va != vb:
                diffs.append(f"param group {gi} {k} ({va!r} in the checkpoint, {vb!r} here)")
        if lambdas is not None and gi < len(lambdas) and isinstance(epoch, int) \
                and "initial_lr" in b:
            want = b["initial_lr"] * lambdas[gi](epoch)
            if a.get("lr") != want:
                diffs.append(f"param group {gi} lr ({a.get('lr')!r} in the checkpoint at epoch "
                             f"{epoch}, {want!r} by this run's schedule)")
    q_saved, q_here = saved_opt.get("qopt"), here_opt.get("qopt")
    if isinstance(q_here, dict):
        q_saved = q_saved if isinstance(q_saved, dict) else {}
        for k in ("method", "method_args", "run"):
            va, vb = _plain(q_saved.get(k, "absent")), _plain(q_here.get(k))
            if va != vb:
                diffs.append(f"{k} ({va!r} in the checkpoint, {vb!r} here)")
    elif isinstance(q_saved, dict):
        diffs.append(f"method ({q_saved.get('method')!r} in the checkpoint, none here)")
    if isinstance(saved_sched, dict):
        for k in sorted((set(saved_sched) | set(here_sched)) - _SCHED_PROGRESS):
            va, vb = _plain(saved_sched.get(k, "absent")), _plain(here_sched.get(k, "absent"))
            if va != vb:
                diffs.append(f"scheduler {k} ({va!r} in the checkpoint, {vb!r} here)")
        if isinstance(epoch, int) and saved_sched.get("last_epoch") != epoch:
            diffs.append(f"scheduler last_epoch ({saved_sched.get('last_epoch')!r}, the "
                         f"checkpoint's epoch is {epoch})")
    if diffs:
        more = f" (+{len(diffs) - 6} more)" if len(diffs) > 6 else ""
        raise CheckpointIdentityError(
            f"{name!r}: its optimizer/scheduler hyperparameters are not those of this run's "
            f"config.json: {'; '.join(diffs[:6])}{more}; refused (resume with the config that "
            "made it, or --no-resume)")


def load_checkpoint(run_dir: str | os.PathLike, map_location: str | torch.device = "cpu",
                    record: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The newest good checkpoint of ``run_dir``, or ``None`` when it has none.

    Falls back to ``checkpoint.prev.pt`` (with a :class:`CheckpointWarning`) when
    ``checkpoint.pt`` is missing or damaged; the damaged file is moved to
    ``checkpoint.pt.damaged``. The returned dict has ``"_file"``: the name of the file used.
    With ``record`` (the run's identity record), every checkpoint present — the current and
    the previous one, readable ones — must record that identity (:func:`check_identity`).

    Raises:
        CheckpointError: every checkpoint present is damaged (each one named with its reason).
        CheckpointIdentityError: a checkpoint of another identity, or of none.
    """
    run_dir = Path(run_dir)
    cur, prev = run_dir / CHECKPOINT, run_dir / PREVIOUS
    if not cur.exists() and not prev.exists():
        return None
    errors = []
    if cur.exists():
        try:
            state = read_checkpoint(cur, map_location)
        except CheckpointError as exc:
            errors.append(str(exc))
        else:
            if record is not None:
                check_identity(state, record, cur)
                if prev.exists():
                    try:
                        older = read_checkpoint(prev, map_location)
                    except CheckpointError:
                        pass  # damaged: only a fallback, and not needed now
                    else:
                        check_identity(older, record, prev)
                        del older
            return {**state, "_file": CHECKPOINT}
    if prev.exists():
        try:
            state = read_checkpoint(prev, map_location)
        except CheckpointError as exc:
            errors.append(str(exc))
        else:
            if record is not None:
                check_identity(state, record, prev)
            why = errors[0] if errors else f"{str(cur)!r} is missing"
            if cur.exists():
                with contextlib.suppress(FileNotFoundError):  # another rank moved it first
                    os.replace(cur, run_dir / (CHECKPOINT + ".damaged"))
                why += f" (moved to {CHECKPOINT}.damaged)"
            warnings.warn(f"{why}; resuming from {str(prev)!r} (epoch {state['epoch']})",
                          CheckpointWarning, stacklevel=2)
            return {**state, "_file": PREVIOUS}
    raise CheckpointError(f"no usable checkpoint in {str(run_dir)!r}: {'; '.join(errors)}. "
                          "Start the run afresh (--no-resume) or restore a copy of the file")


def remove_checkpoints(run_dir: str | os.PathLike) -> None:
    """Delete both checkpoints (a run starting afresh)."""
    for name in (CHECKPOINT, PREVIOUS):
        (Path(run_dir) / name).unlink(missing_ok=True)


def check_metrics_log(run_dir: str | os.PathLike, ckpt: dict[str, Any]) -> str | None:
    """None when ``metrics.jsonl`` holds exactly what was logged up to the checkpoint, else a
    sentence saying what is missing or changed (the resume goes on; the caller reports it)."""
    run_dir = Path(run_dir)
    offset = int(ckpt.get("metrics_offset", 0))
    path = run_dir / "metrics.jsonl"
    where = f"{str(path)!r}"
    if offset == 0:
        return None
    if not path.exists():
        return (f"{where} is missing: the {offset} bytes of records logged before epoch "
                f"{ckpt['epoch']} are lost (the per-epoch eval values survive in the "
                "checkpoint's history and result.json)")
    size = path.stat().st_size
    if size < offset:
        return (f"{where} is truncated: {size} bytes where the checkpoint saw {offset}; the "
                f"records after byte {size} logged before epoch {ckpt['epoch']} are lost")
    expected = ckpt.get("metrics_sha256")
    if expected is not None and _metrics_digest(run_dir, offset) != expected:
        return (f"{where} was modified after the checkpoint was written (its first {offset} "
                "bytes no longer match the checkpoint's checksum)")
    return None


def restore_checkpoint(ckpt: dict[str, Any], model: torch.nn.Module, optimizer: Any,
                       scheduler: Any, run_dir: str | os.PathLike) -> None:
    """Load model, optimizer and scheduler states of ``ckpt``; a state that does not fit (other
    shapes, another method) becomes a :class:`CheckpointError` naming the file. Warns
    (:class:`CheckpointWarning`) when the checkpoint was written with another torch thread count
    (measured: it changes the bits of CPU training, see the README's determinism section)."""
    name = repr(str(Path(run_dir) / ckpt.get("_file", CHECKPOINT)))
    threads = ckpt.get("torch_threads")
    if isinstance(threads, int) and threads != torch.get_num_threads():
        warnings.warn(f"{name} was written by a process with {threads} torch threads, this one "
                      f"has {torch.get_num_threads()}: CPU reductions are split by thread, so "
                      "the resumed run will not be bit-identical to an uninterrupted one (set "
                      "num_threads to resume exactly)", CheckpointWarning, stacklevel=2)
    for what, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        try:
            obj.load_state_dict(ckpt[what])
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"{name}: its {what} state does not fit this run ({msg}); "
                                  "resume with the config that made it, or --no-resume") from None
