r"""Run identity: which settings define a run's numbers, its hash, and the differences between
two runs' configurations.

A run is identified by its **math**: every :class:`~qopt.train.config.TrainConfig` field
except the execution and location fields below, plus the method's resolved arguments (defaults
filled in, so a changed engine default changes the identity) and the checksum of the
``init_from`` weights. Two requests with the same identity are the same run: a finished one is
returned, an unfinished one is resumed; a request whose identity differs from what a run
directory holds is refused (:class:`RunConflict`, naming the differing fields), never answered
with the stale result.

Not in the identity, and why (decided here, stated in the README):

* **execution** (:data:`EXECUTION_FIELDS`): ``device``, ``num_threads``, ``compile``,
  ``deterministic`` choose *how* the same arithmetic is executed. They can change floating-point
  rounding (reduction order, fused kernels), hence the last bits and, through training, the
  final numbers by a seed-like amount; they do not change the method, the data or any
  hyperparameter. They are recorded per run segment (``result.json`` ``execution``); a rerun or
  a resume under another execution continues the same run and says so. ``log_every`` and
  ``diag_every`` only choose what is logged.
* ``max_skip_frac`` is part of the identity only under ``nonfinite = "skip"`` (elsewhere it
  has no effect, and leaving it out keeps the hashes of all other runs as they were).
* **location** (:data:`LOCATION_FIELDS`): ``data_dir`` and ``init_from`` say where files are;
  their contents are identified instead: the data's SHA-256 (checked on resume) and the init
  file's SHA-256 (part of the identity).

``amp = "auto"`` resolves to bf16 on CUDA and off elsewhere; the resolved value is recorded and
a resume under a different resolution is refused (it changes the arithmetic of the method).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: execution fields: recorded, not part of the identity (see the module docstring)
EXECUTION_FIELDS = ("device", "num_threads", "compile", "deterministic", "log_every",
                    "diag_every")
#: location fields: their contents are identified by checksums instead
LOCATION_FIELDS = ("data_dir", "init_from")
#: fields added after runs were stored: in the identity only when set (not None), so every
#: earlier run keeps its hash (``group_size``: one scale per block of weights)
OPTIONAL_FIELDS = ("group_size",)
#: version of the identity scheme (part of the hash)
IDENTITY_VERSION = 1


class RunConflict(ValueError):
    """A run directory holds a run whose identity differs from the one requested."""


def identity(config: dict[str, Any], method_config: dict[str, Any] | None = None,
             init_sha256: str | None = None) -> dict[str, Any]:
    """The identity dict of a config dict (``TrainConfig.to_dict()`` or a ``config.json``)."""
    from qopt.train.config import config_fields

    names = [f.name for f in config_fields()]
    ident = {k: config.get(k) for k in names
             if k not in EXECUTION_FIELDS and k not in LOCATION_FIELDS}
    if ident.get("nonfinite") != "skip":  # no effect without skipping: not part of the run
        ident.pop("max_skip_frac", None)
    for k in OPTIONAL_FIELDS:  # absent = None: runs from before the field keep their hash
        if ident.get(k) is None:
            ident.pop(k, None)
    if method_config is not None:  # the resolved arguments replace the given ones: writing
        del ident["method_args"]  # a default out explicitly is the same run
    ident["method_config"] = method_config
    ident["init_sha256"] = init_sha256
    return ident


def canonical(obj: Any) -> str:
    """Canonical JSON (sorted keys, tuples as lists, no whitespace): equal values give equal
    text, so the hash is independent of key order."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=list,
                      allow_nan=True)


def config_hash(ident: dict[str, Any], length: int = 10) -> str:
    """First ``length`` hex digits of SHA-256 over the canonical identity (and the scheme
    version). 10 digits = 40 bits: a collision among a million runs has probability ~5e-7."""
    text = canonical({"v": IDENTITY_VERSION, "identity": ident})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Identity fields whose values differ between two config records (``config.json``-like:
    TrainConfig fields plus optional ``method_config`` / ``init`` entries), each as
    ``"name (old -> new)"``. A field absent from ``old`` (a run written by an older version)
    counts as differing. Execution and location fields are ignored."""
    def init_sha(d: dict[str, Any]) -> Any:
        return d["init"].get("sha256") if isinstance(d.get("init"), dict) else None

    both = old.get("method_config") is not None and new.get("method_config") is not None
    a = identity(old, old.get("method_config") if both else None, init_sha(old))
    b = identity(new, new.get("method_config") if both else None, init_sha(new))
    diffs = []
    for k in b:
        if k == "method_config" and not both:
            continue  # unknown on one side: method_args are compared instead
        if k not in old and k not in ("method_config", "init_sha256"):
            diffs.append(f"{k} (absent -> {_short(b[k])})")
        else:
            diffs += _diff(k, a.get(k), b.get(k))
    return diffs


def _diff(name: str, x: Any, y: Any) -> list[str]:
    """``name.sub (x -> y)`` per differing entry of two dicts, else ``name (x -> y)``."""
    if canonical(x) == canonical(y):
        return []
    if isinstance(x, dict) and isinstance(y, dict):
        out = []
        for k in sorted(set(x) | set(y)):
            xv = _short(x[k]) if k in x else "absent"
            yv = _short(y[k]) if k in y else "absent"
            if xv != yv:
                out.append(f"{name}.{k} ({xv} -> {yv})")
        return out
    return [f"{name} ({_short(x)} -> {_short(y)})"]


def _short(v: Any, n: int = 60) -> str:
    s = canonical(v)
    return s if len(s) <= n else s[: n - 3] + "..."


def conflict_message(run_dir: str, diffs: list[str], hint: str, what: str = "run") -> str:
    """One line: the run directory, the differing fields (old -> new) and what to do."""
    return (f"run directory {run_dir!r} holds a {what} of a different configuration: "
            f"{'; '.join(diffs)}; {hint}")
