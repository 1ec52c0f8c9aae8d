"""Calling a user's quantizer uniformly: numpy or torch in, float64 numpy out.

The contract of a quantizer ``fn`` checked by :func:`proofs_check.verify_quantizer`: ``fn(w)``
takes a floating array of the backend (``numpy.ndarray`` or ``torch.Tensor``), 1-D, or 2-D with one
scale per slice along ``axis``, and returns its quantization of the same shape, as

* an array / tensor ``q``;
* a tuple ``(q, scale, ...)`` (only ``q`` and ``scale`` are read; ``scale`` a scalar or one value
  per slice);
* an object with attributes ``q`` and ``scale`` (``theory.project``'s ``Projection``,
  ``qopt.project``'s result).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BACKENDS", "Output", "QuantizerCaller", "QuantizerError", "to_float64"]

BACKENDS = ("numpy", "torch")


class QuantizerError(RuntimeError):
    """``fn`` failed on a valid input: it raised (``SystemExit`` included), returned something
    that breaks the contract (wrong shape, not an array), or (run in a child process, see
    :mod:`proofs_check.isolated`) timed out or died. ``input`` holds the offending input
    (float64 array); ``kind`` is ``"raised"``, ``"contract"``, ``"timeout"``, ``"died"`` or
    ``"skipped"`` (not called: too many timeouts or deaths already)."""

    def __init__(self, message: str, input: np.ndarray | None = None,
                 kind: str = "raised") -> None:
        super().__init__(message)
        self.input = input
        self.kind = kind


@dataclass(frozen=True)
class Output:
    """``fn``'s answer in float64: ``q`` (input's shape) and ``scale`` (per slice or None)."""

    q: np.ndarray
    scale: np.ndarray | None


def to_float64(x: Any) -> np.ndarray:
    """A numpy array or torch tensor (any device, bfloat16 included) as float64 numpy."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        return x.numpy().astype(np.float64)
    return np.asarray(x, dtype=np.float64)


class QuantizerCaller:
    """Wraps ``fn`` for one backend and dtype; :meth:`__call__` maps float64 numpy to
    :class:`Output`.

    Args:
        fn: the quantizer.
        backend: ``"numpy"`` or ``"torch"``.
        dtype: the floating dtype handed to ``fn`` (numpy dtype name: ``float64``, ``float32``,
            ``float16``; ``bfloat16`` only with torch).
        axis: the per-slice axis of the inputs (None: one scale for the tensor).
    """

    def __init__(self, fn: Callable[[Any], Any], backend: str, dtype: str, axis: int | None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.fn, self.backend, self.axis = fn, backend, axis
        if backend == "torch":
            import torch

            tdt = getattr(torch, str(dtype), None)
            if not isinstance(tdt, torch.dtype) or not tdt.is_floating_point:
                raise ValueError(f"dtype must be a torch floating dtype name, got {dtype!r}")
            self._torch, self.torch_dtype = torch, tdt
            self.np_dtype = np.dtype(np.float32 if tdt == torch.bfloat16 else str(dtype))
        else:
            try:
                dt = np.dtype(dtype)
            except TypeError:
                raise ValueError(f"dtype must be a numpy floating dtype, got {dtype!r}") from None
            if not np.issubdtype(dt, np.floating):
                raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")
            self.np_dtype = dt
        self.dtype_name = str(dtype)

    def cast(self, w: np.ndarray) -> np.ndarray:
        """``w`` rounded to the working dtype, returned in float64 (the input fn really sees)."""
        if self.backend == "torch":
            t = self._torch.as_tensor(np.asarray(w, dtype=np.float64)).to(self.torch_dtype)
            return to_float64(t)
        return np.asarray(w, dtype=self.np_dtype).astype(np.float64)

    def to_backend(self, w: np.ndarray) -> Any:
        if self.backend == "torch":
            return self._torch.as_tensor(np.asarray(w, dtype=np.float64)).to(self.torch_dtype)
        return np.array(w, dtype=self.np_dtype)

    def call_raw(self, x: Any) -> Any:
        """Call ``fn`` on a backend array; any exception, ``SystemExit`` included, becomes
        :class:`QuantizerError` (``KeyboardInterrupt`` still stops the verifier)."""
        try:
            return self.fn(x)
        except (Exception, SystemExit) as exc:
            try:
                what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except Exception:  # an exception whose __str__ raises
                what = type(exc).__name__
            if isinstance(exc, SystemExit):
                what = f"SystemExit (sys.exit({exc.code!r}) called inside fn)"
            raise QuantizerError(f"fn raised {what}", to_float64(x)) from exc

    def parse(self, out: Any, w: np.ndarray) -> Output:
        """Normalise ``fn``'s return value (see the module docstring) for input ``w``."""
        scale = None
        if hasattr(out, "q") and hasattr(out, "scale"):
            q, scale = out.q, out.scale
        elif isinstance(out, tuple):
            if len(out) < 2:
                raise QuantizerError(f"fn returned a tuple of length {len(out)}; expected q or "
                                     "(q, scale)", w, "contract")
            q, scale = out[0], out[1]
        else:
            q = out
        try:
            qa = to_float64(q)
        except (TypeError, ValueError) as exc:
            msg = f"fn returned {type(q).__name__}, not an array: {exc}"
            raise QuantizerError(msg, w, "contract") from None
        if qa.shape != w.shape:
            raise QuantizerError(f"fn returned shape {qa.shape} for an input of shape {w.shape}",
                                 w, "contract")
        sc = None
        if scale is not None:
            sc = to_float64(scale).reshape(-1)
            n_slices = 1 if self.axis is None else w.shape[self.axis]
            if sc.size == 1 and n_slices > 1:
                sc = np.full(n_slices, sc[0])
            if sc.size != n_slices:
                raise QuantizerError(f"fn returned {sc.size} scale value(s); expected "
                                     f"{n_slices} (one per slice)", w, "contract")
        return Output(qa, sc)

    def run(self, w: np.ndarray) -> tuple[Output, bool]:
        """(``fn(w)`` normalised, whether ``fn`` modified its input array in place)."""
        x = self.to_backend(w)
        try:
            out = self.call_raw(x)
        except QuantizerError as exc:
            exc.input = np.array(w)  # the input as given, even if fn modified it before raising
            raise
        modified = not np.array_equal(to_float64(x), self.cast(w), equal_nan=True)
        return self.parse(out, w), modified

    def __call__(self, w: np.ndarray) -> Output:
        """``fn`` applied to ``w`` (float64, already representable in the working dtype)."""
        return self.run(w)[0]

    def close(self) -> None:
        """Nothing to release in-process (the child-process caller has the same method)."""
