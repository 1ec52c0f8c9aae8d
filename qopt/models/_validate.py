"""Argument checks shared by the model constructors."""

from __future__ import annotations


def check_dims(**dims: object) -> None:
    """Raise ``ValueError``/``TypeError`` unless every keyword value is a positive int."""
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be a positive int, got {type(v).__name__} {v!r}")
        if v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v}")
