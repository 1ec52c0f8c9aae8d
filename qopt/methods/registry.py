"""Method names -> method classes: the one list the CLI, configs and studies read.

Adding a method is its file under :mod:`qopt.methods` plus one line in :data:`METHODS`. Accepted
config keys are the method dataclass's own fields (:func:`method_fields`). Imports without torch.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, NamedTuple

from qopt.methods.bcgd import BCGD
from qopt.methods.binaryconnect import BinaryConnect
from qopt.methods.binaryrelax import BinaryRelax
from qopt.methods.parq import PARQ
from qopt.methods.proxquant import ProxQuant
from qopt.suggest import did_you_mean

__all__ = ["ALIASES", "METHODS", "MethodField", "as_method", "canonical", "make_method",
           "method_fields"]

#: Canonical name -> method class.
METHODS: dict[str, type] = {
    "binaryconnect": BinaryConnect,
    "binaryrelax": BinaryRelax,
    "bcgd": BCGD,
    "parq": PARQ,
    "proxquant": ProxQuant,
}

#: Short names accepted wherever a method name is.
ALIASES: dict[str, str] = {"bc": "binaryconnect", "br": "binaryrelax"}


class MethodField(NamedTuple):
    """One config key of a method: name, type, default, one-line help."""

    name: str
    type: Any
    default: Any
    help: str


def canonical(name: object) -> str:
    """The canonical method name of ``name`` (case and surrounding blanks ignored; aliases)."""
    if not isinstance(name, str):
        raise TypeError(f"method name must be a str, got {type(name).__name__} {name!r}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in METHODS:
        known = sorted(METHODS) + sorted(ALIASES)
        raise ValueError(f"unknown method {name!r}; expected one of {known}"
                         f"{did_you_mean(key, known)}")
    return key


def make_method(name: str, **kwargs: Any) -> Any:
    """``METHODS[canonical(name)](**kwargs)``; unknown keys -> ValueError listing the fields."""
    cls = METHODS[canonical(name)]
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"unknown arguments {unknown} for method {cls.name!r}; accepted: "
                         f"{allowed}")
    return cls(**kwargs)


def method_fields(name: str) -> tuple[MethodField, ...]:
    """The config fields of a method, in declaration order."""
    cls = METHODS[canonical(name)]
    hints = typing.get_type_hints(cls)
    return tuple(MethodField(f.name, hints[f.name], f.default, f.metadata.get("help", ""))
                 for f in dataclasses.fields(cls))


def as_method(method: object) -> Any:
    """A method object as given, or the default-configured method of a name."""
    if isinstance(method, tuple(METHODS.values())):
        return method
    if isinstance(method, str):
        return make_method(method)
    raise TypeError("method must be a method object (qopt.BinaryConnect(), qopt.BinaryRelax(...),"
                    f" ...) or one of the names {sorted(METHODS)}, got {type(method).__name__}")
