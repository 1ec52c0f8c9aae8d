"""Input validation: the one set of argument rules of :mod:`theory` and :mod:`qopt`.

Convention: a bad value raises ``ValueError`` and a bad type raises ``TypeError``; both name the
argument and say what was expected. Functions never ``assert`` on user input.

One rule for numbers: anything registered as :class:`numbers.Integral` (``int``, ``np.int64``, ...)
is an int, anything :class:`numbers.Real` is a real number, and ``bool`` / ``np.bool_`` are
neither (``Uniform(np.int64(4))`` and ``QuantReLU(bits=np.int64(4))`` are accepted alike,
``bits=True`` is refused everywhere). Values are returned as plain Python ``int``/``float``/``bool``
so that configs, reprs and state dicts never carry numpy scalars. :mod:`qopt` imports this module
(the arrow points from qopt to theory); theory never imports qopt.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_axis",
    "check_finite_scalar",
    "check_positive_scalar",
    "check_int",
    "check_bool",
    "check_choice",
    "check_optional_positive",
    "check_dims",
    "check_bits",
    "all_finite",
]


def _is_bool(x: object) -> bool:
    return isinstance(x, (bool, np.bool_))


def as_float_array(
    x: object, name: str, *, allow_empty: bool = False, check_finite: bool = True
) -> np.ndarray:
    """Return ``x`` as a finite real floating ndarray (its own dtype kept; no copy if possible).

    ``check_finite=False`` skips the NaN/Inf test for callers that check it more cheaply later
    (e.g. on a sorted copy, where NaN and Inf sort last); they must raise the same error.

    Raises:
        TypeError: ``x`` is not array-like, or has an integer, boolean, complex or object dtype.
        ValueError: ``x`` is empty (unless ``allow_empty``) or holds NaN/Inf.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a real floating-point array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic array-likes
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc
    if arr.dtype == object:
        raise TypeError(f"{name} must be a real floating-point array, got dtype=object")
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(
            f"{name} must have a real floating dtype (float16/32/64), got dtype={arr.dtype}; "
            f"convert explicitly, e.g. {name}.astype(np.float64)"
        )
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if check_finite and not all_finite(arr):
        raise ValueError(f"{name} must be finite, found NaN or Inf")
    return arr


def all_finite(arr: np.ndarray) -> bool:
    """True iff every entry is finite. A finite sum proves it (NaN and ±Inf propagate through
    a sum, Inf - Inf = NaN); only when the sum overflows is the elementwise test needed."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(arr)
    return bool(np.isfinite(total)) or bool(np.all(np.isfinite(arr)))


def check_axis(axis: object, ndim: int, name: str = "axis") -> int | None:
    """Normalise ``axis`` (None or an int in [-ndim, ndim)) to a non-negative int or None."""
    if axis is None:
        return None
    if _is_bool(axis) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{name} must be None or an int, got {type(axis).__name__}")
    axis = int(axis)
    if ndim == 0:
        raise ValueError(f"{name}={axis} needs an array with at least one dimension, got a scalar")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name} must lie in [{-ndim}, {ndim}) for a {ndim}-d array, got {axis}")
    return axis % ndim


def check_finite_scalar(x: object, name: str) -> float:
    """Return ``x`` as a finite Python float."""
    if _is_bool(x) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__} {x!r}")
    x = float(x)
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return x


def check_positive_scalar(x: object, name: str, *, allow_zero: bool = False) -> float:
    """Return ``x`` as a finite float that is > 0 (or >= 0 with ``allow_zero``)."""
    x = check_finite_scalar(x, name)
    if x < 0 or (x == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {x}")
    return x


def check_int(x: object, name: str, lo: int, hi: int) -> int:
    """Return ``x`` as an int in the closed range [lo, hi]."""
    if _is_bool(x) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an int in [{lo}, {hi}], got {type(x).__name__} {x!r}")
    x = int(x)
    if not lo <= x <= hi:
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {x}")
    return x


def check_optional_positive(x: object, name: str) -> float | None:
    """None stays None; anything else must be a finite real number > 0 (returned as float)."""
    return None if x is None else check_positive_scalar(x, name)


def check_bool(x: object, name: str) -> bool:
    """Return ``x`` as a Python bool if it is a ``bool`` or ``np.bool_`` (not an int)."""
    if not _is_bool(x):
        raise TypeError(f"{name} must be a bool (True/False), got {type(x).__name__} {x!r}")
    return bool(x)


def check_choice(x: object, name: str, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``x`` if it is one of the strings ``choices``."""
    if not isinstance(x, str):
        raise TypeError(f"{name} must be one of {tuple(choices)}, got {type(x).__name__} {x!r}")
    if x not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {x!r}")
    return x


def check_dims(**dims: object) -> None:
    """Raise unless every keyword value is an int >= 1 (sizes of layers, dimensions)."""
    for name, v in dims.items():
        if _is_bool(v) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be a positive int, got {type(v).__name__} {v!r}")
        if v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v}")


def check_bits(bits: object, name: str = "bits") -> int:
    """A bit width: an int in [1, :data:`theory.sets.MAX_BITS`] (the one bit limit)."""
    from theory.sets import MAX_BITS  # sets imports this module: resolved at call time

    return check_int(bits, name, 1, MAX_BITS)
