r"""Display names and orderings of the code names that appear in figures.

One mapping for every figure, so a method, a weight set or an STE is written the same way
everywhere and panels come in a meaningful order:

* :func:`method_label` — ``binaryrelax`` → "BinaryRelax", ``bc`` → "BinaryConnect", torchao's
  ``ProxBinaryRelax`` → "ProxBinaryRelax (torchao)"; :func:`canonical_method` resolves aliases
  and torchao's proximal maps to the method they implement (for colours, :mod:`figures.style`).
* :func:`set_label` — a weight-set spec (``theory.parse_qset`` text, or UniQ's ``uniq:B``) →
  "binary", "ternary", "symmetric:2", "uniform:4", "UniQ 4-bit"; ``None`` → "float". A
  multi-bit set keeps its spec text: "2-bit" would not say whether the set is ``symmetric:2``
  (4 levels, no zero) or ``uniform:2`` (the ternary set {-1, 0, 1}·α).
* :func:`set_sort_key` — orders sets by their effective bit width log₂(number of levels):
  binary (1) < ternary (log₂3 ≈ 1.58) < 2-bit (2) < ``uniform:3`` (log₂7) < 3-bit < … ; the
  unquantized ``float`` comes last.
* :func:`ste_label`, :func:`model_label`, :func:`device_label` — STE proxies, models, devices.
* :data:`METHOD_ORDER` / :func:`method_sort_key` — methods in a fixed order (float first, then
  the papers' methods in publication order, then the newer ones).

Unknown names pass through unchanged (a figure never fails on a new name; it shows the code
name until a display name is added here).
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["METHOD_NAMES", "METHOD_ORDER", "STE_NAMES", "canonical_method", "device_label",
           "grid_value_label", "method_label", "method_sort_key", "model_label", "set_bits",
           "set_label", "set_sort_key", "ste_label"]

#: canonical method name -> display name, in the order methods are listed in legends
METHOD_NAMES: dict[str, str] = {
    "float": "float",
    "binaryconnect": "BinaryConnect",
    "binaryrelax": "BinaryRelax",
    "bcgd": "BCGD",
    "uniq": "UniQ",
    "parq": "PARQ",
    "proxquant": "ProxQuant",
}
METHOD_ORDER: tuple[str, ...] = tuple(METHOD_NAMES)

#: aliases accepted by the trainer and the method registry -> canonical name
_ALIASES = {"bc": "binaryconnect", "br": "binaryrelax", "fp": "float", "none": "float",
            "fp32": "float"}
#: torchao PARQ proximal maps -> the method whose update they implement (hard projection =
#: BinaryConnect's quantized forward; ProxBinaryRelax = BinaryRelax's relaxed prox; ProxPARQ =
#: PARQ's piecewise-affine prox)
_TORCHAO = {"proxhardquant": "binaryconnect", "proxbinaryrelax": "binaryrelax",
            "proxparq": "parq"}

STE_NAMES: dict[str, str] = {"identity": "identity", "relu": "ReLU",
                             "clipped_relu": "clipped ReLU"}

_MODELS = {"mlp": "MLP", "cnn1d": "1-D CNN", "cnn2d": "2-D CNN", "resnet20": "ResNet-20",
           "vgg11": "VGG-11", "lenet": "LeNet"}
_DEVICES = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU"}


def canonical_method(name: Any) -> str:
    """Canonical lower-case method name (aliases and torchao's proximal maps resolved)."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    return _TORCHAO.get(key, key)


def method_label(name: Any) -> str:
    """Display name of a method (``"binaryrelax"`` → ``"BinaryRelax"``); torchao's proximal
    maps keep their own name with "(torchao)"; unknown names are returned unchanged."""
    raw = str(name).strip()
    key = _ALIASES.get(raw.lower(), raw.lower())
    if key in _TORCHAO:
        return f"{raw} (torchao)"
    return METHOD_NAMES.get(key, raw)


def method_sort_key(name: Any) -> tuple[int, str]:
    """Sort key placing methods in :data:`METHOD_ORDER`, unknown ones after, by name."""
    c = canonical_method(name)
    return (METHOD_ORDER.index(c) if c in METHOD_ORDER else len(METHOD_ORDER), str(name))


def _parse(spec: str) -> tuple[str, str, str | None]:
    text = spec.strip().lower()
    text, _, scale = text.partition("@")
    kind, _, arg = text.partition(":")
    return kind, arg, scale or None


def set_bits(spec: Any) -> float:
    """Effective bit width log₂(number of levels) of a weight-set spec; ``inf`` for float
    (``None``/``"none"``/``"float"``) and for specs it cannot read."""
    if spec is None or str(spec).strip().lower() in ("none", "float", ""):
        return math.inf
    kind, arg, _ = _parse(str(spec))
    try:
        if kind == "binary":
            return 1.0
        if kind == "ternary":
            return math.log2(3)
        if kind in ("symmetric", "uniq", "unif"):
            return float(int(arg))
        if kind == "uniform":
            return math.log2(2 ** int(arg) - 1) if int(arg) > 1 else 0.0
        if kind in ("grid", "scaled"):
            n = len({float(t) for t in arg.split(",") if t.strip()})
            return math.log2(n) if n > 1 else 0.0
    except ValueError:
        pass
    return math.inf


def set_label(spec: Any) -> str:
    """Display name of a weight set: ``binary``, ``ternary``, ``symmetric:B`` → "symmetric:B",
    ``uniform:B`` → "uniform:B" (``uniform:2`` is the ternary set, ``symmetric:1`` the binary
    set: they read "ternary", "binary"), ``uniq:B`` → "UniQ B-bit", ``grid:…`` → "grid (n
    levels)"; a fixed scale adds ", α = S"; ``None`` → "float". "B-bit" alone is never used:
    it does not say which B-bit set (module docstring)."""
    if spec is None or str(spec).strip().lower() in ("none", "float", ""):
        return "float"
    kind, arg, scale = _parse(str(spec))
    if kind in ("binary", "ternary") and not arg:
        out = kind
    elif kind == "uniform" and arg == "2":
        out = "ternary"
    elif kind in ("symmetric", "unif") and arg == "1":
        out = "binary"
    elif kind in ("symmetric", "unif", "uniform") and arg.isdigit():
        out = f"{'uniform' if kind == 'uniform' else 'symmetric'}:{arg}"
    elif kind == "uniq" and arg.isdigit():
        out = f"UniQ {arg}-bit"
    elif kind in ("grid", "scaled"):
        n = len([t for t in arg.split(",") if t.strip()])
        out = f"{'grid' if kind == 'grid' else 'scaled grid'} ({n} levels)"
    else:
        return str(spec)
    return f"{out}, α = {scale}" if scale else out


def set_sort_key(spec: Any) -> tuple[float, int, str]:
    """Sort key: effective bit width, then sets without a zero level before those with one,
    then the spec text (so ``binary, ternary, symmetric:2, uniform:4, symmetric:4, float``)."""
    kind = _parse(str(spec))[0] if spec is not None else "none"
    return (set_bits(spec), 0 if kind in ("binary", "symmetric", "uniq", "unif") else 1,
            str(spec))


def ste_label(name: Any) -> str:
    """Display name of an STE proxy (``clipped_relu`` → "clipped ReLU")."""
    return STE_NAMES.get(str(name).strip().lower(), str(name))


def model_label(name: Any) -> str:
    """Display name of a model (``resnet20`` → "ResNet-20")."""
    return _MODELS.get(str(name).strip().lower(), str(name))


def device_label(kind: Any) -> str:
    """Display name of a device kind (``cuda`` → "CUDA GPU")."""
    return _DEVICES.get(str(kind).strip().lower(), str(kind))


_KEY_NAMES = {"ste": "STE", "act_bits": "activation bits", "lr": "lr", "weights": "weights",
              "method": "method"}


def grid_value_label(key: str, value: Any) -> str:
    """``key=value`` of a study grid cell in words (``ste=clipped_relu`` → "STE clipped
    ReLU")."""
    if key == "method":
        return method_label(value)
    if key == "weights":
        return set_label(value)
    if key == "ste":
        return f"STE {ste_label(value)}"
    name = _KEY_NAMES.get(key, re.sub(r"_+", " ", key))
    return f"{name} {value}"
