"""The trainer's bridge to the engine's methods: names, argument fields, construction.

Uses the engine's method registry (``qopt.methods.registry``: ``METHODS``, ``make_method``,
``method_fields``) when present, else the method dataclasses of ``qopt.optim.methods``. The
trainer's own methods ``float`` and ``uniq`` take no method arguments. The registry and the
method dataclasses import without torch, so ``qopt train --help`` can list the arguments.
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: trainer method -> engine method name (None: no QuantOptimizer)
ENGINE_NAME = {"float": None, "uniq": None, "binaryconnect": "binaryconnect",
               "binaryrelax": "binaryrelax", "bcgd": "bcgd", "parq": "parq",
               "proxquant": "proxquant"}


def _registry() -> Any:
    try:
        from qopt.methods import registry
    except ImportError:
        return None
    return registry


def _legacy_class(name: str) -> type:
    from qopt.optim import methods as M

    return {"binaryconnect": M.BinaryConnect, "binaryrelax": M.BinaryRelax,
            "bcgd": M.BCGD}[name]


def method_arg_fields(method: str) -> list[tuple[str, Any, Any, str]]:
    """``[(name, type, default, one-line help), ...]`` of the method's arguments."""
    name = ENGINE_NAME.get(method)
    if name is None:
        return []
    reg = _registry()
    if reg is not None:
        return [tuple(f) for f in reg.method_fields(name)]  # type: ignore[misc]
    cls = _legacy_class(name)
    return [(f.name, f.type, f.default, "") for f in dataclasses.fields(cls)]


def build_method(method: str, args: dict[str, Any]) -> Any:
    """The engine method object for a trainer method (None for float / uniq)."""
    name = ENGINE_NAME.get(method)
    if name is None:
        return None
    reg = _registry()
    if reg is not None:
        return reg.make_method(name, **args)
    return _legacy_class(name)(**args)


def method_config(method_obj: Any) -> dict[str, Any] | None:
    """Every argument of a method object with defaults filled in (recorded in config.json, so
    a change of an engine default changes the run's identity)."""
    if method_obj is None:
        return None
    out = {"name": type(method_obj).__name__}
    if dataclasses.is_dataclass(method_obj):
        out.update({f.name: getattr(method_obj, f.name)
                    for f in dataclasses.fields(method_obj)})
    return out


def phase2_epoch(opt: Any) -> int | None:
    """The epoch index from which the method runs Phase II (``QuantOptimizer.phase2_epoch``,
    contract C2), or None (never / no phases). With an engine that predates the property, the
    BinaryRelax ``phase2_at`` in epoch units is used."""
    if hasattr(opt, "phase2_epoch"):
        return opt.phase2_epoch
    m = getattr(opt, "method", None)
    at = getattr(m, "phase2_at", None)
    if at is not None and getattr(m, "phase2_unit", "epoch") == "epoch":
        return int(at)
    return None
