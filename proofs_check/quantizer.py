r"""``verify_quantizer``: check any quantizer against the exact projection of :mod:`theory`.

Existing libraries test that a quantizer outputs the right number of distinct values; a quantizer
can pass that and still err by 1.5-2x in squared error (PARQ's "optimal" ternary, ratio 1.84 here:
``docs/math/approximate-quantizers.md#parq-lsbq``). This checks the properties of an exact
projection (the table in :mod:`proofs_check.quantizer_checks`), searches for the worst input of each
with hypothesis, and reports a shrunk counterexample for every failed check.

Example::

    >>> import numpy as np
    >>> from theory import Binary
    >>> from proofs_check import verify_quantizer
    >>> report = verify_quantizer(lambda w: np.abs(w).mean() * np.sign(w), Binary())
    >>> report["membership"].status, report["membership"].counterexample.tolist()
    ('FAIL', [0.0])

(``np.sign(0) = 0`` is not in {±α}.)

Given a ``"PATH.py:FUNC"`` string instead of a function, the file is imported and called in a
child process with a per-call ``timeout`` (:mod:`proofs_check.isolated`): an exception,
``sys.exit``, a crash or a hang of the user's code is a failure of the ``contract`` check with the
input that caused it, and every other check still runs. A callable runs in this process (no
timeout; its exceptions and ``SystemExit`` are still reported, not raised).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from proofs_check.adapter import BACKENDS, Output, QuantizerCaller, QuantizerError
from proofs_check.isolated import DEFAULT_TIMEOUT, IsolatedCaller
from proofs_check.quantizer_checks import CHECKS, applicable, make_measure
from proofs_check.report import Check, Report, exact_float
from proofs_check.search import Measured, SearchResult, explore, search
from proofs_check.strategies import exponent_range, weights_for
from proofs_check.tolerance import RoundingSlack, Tolerance
from theory.sets import QuantSet, parse_qset

__all__ = ["MEASURES", "corpus", "verify_quantizer"]

#: a passing optimality / prox_value ratio above 1 + max(r, this) says why it passes
NOTE_ABOVE = 1e-3

#: what each check's figure is, and the pass condition, in words (shown in the report)
MEASURES = {
    "membership": "max |q - a*L[z]| / max|w| over slices (min over scales a); pass <= r",
    "optimality": "max ||w-fn(w)||^2 / dist(w,Q)^2 vs theory.project; pass: excess over "
                  "dist^2 <= rounding slack S(w, fn(w))",
    "idempotence": "max |fn(q) - q| / max|q|; pass <= r",
    "scale_equivariance": "max |fn(c*w) - c*fn(w)| / max|w|, c per slice; pass <= r or a tie "
                          "(equal squared errors within rounding slack)",
    "sign_symmetry": "max |fn(-w) + fn(w)| / max|w|; pass <= r or a tie (equal squared errors "
                     "within rounding slack)",
    "orthogonality": "max |<w-q, q>| / ||w||^2; pass: |<w-q, q>| <= rounding slack",
    "prox_invariance": "max |fn(u) - fn(w)| / max|u|, u = (w + lam*fn(w))/(1+lam); pass <= r",
    "prox_value": "max F(prox_fn(w)) / min F (= F(theory.prox(w))); pass: excess <= "
                  "lam/(2(1+lam)) S(w, fn(w))",
    "determinism": "max |fn(w) - fn(w)| over repeated calls; pass == 0 and input unchanged",
    "contract": "fn(w) returns an array of w's shape without raising, exiting or hanging",
}


def corpus(qset: QuantSet, axis: int | None, dtype: object, seed: int = 0) -> list[np.ndarray]:
    """Deterministic edge cases and seeded random inputs, evaluated before the hypothesis search.

    1-D: a zero, all zeros, one entry, ±1 ties, Gaussian n = 8, 64, 257 (odd), Laplace n = 100,
    a wide-range vector (Gaussian × 2^U(-e, e)), the set's own thresholds (fixed scale).
    2-D: Gaussian (4, 16) slices of magnitudes 1e-3 .. 1e2, a slice of zeros, ties across slices.
    """
    rng = np.random.default_rng(seed)
    e = exponent_range(dtype)
    if axis is None:
        out = [np.zeros(1), np.zeros(3), np.ones(1), np.array([1.0, -1.0, 1.0, -1.0, 0.5]),
               rng.standard_normal(8), rng.standard_normal(64), rng.standard_normal(257),
               rng.laplace(size=100), rng.standard_normal(50) * 2.0 ** rng.integers(-e, e, 50)]
        if qset.scale is not None:
            out.append(np.concatenate([qset.midpoints, qset.levels, -qset.midpoints]) * qset.scale)
            out.append(rng.standard_normal(64) * qset.scale * max(qset.levels.max(), 1.0))
    else:
        mags = np.array([1e-3, 1.0, 1e2, 0.5])[:, None]
        base = [rng.standard_normal((4, 16)) * mags,
                np.vstack([np.zeros(6), rng.standard_normal(6)]),
                np.tile(np.array([1.0, -1.0, 2.0]), (3, 1)), rng.standard_normal((2, 33))]
        if qset.scale is not None:
            row = np.concatenate([qset.midpoints, qset.levels]) * qset.scale
            base.append(np.vstack([row, -row]))
        out = [b if axis in (0,) else b.T for b in base]
    dt = np.dtype(dtype) if str(dtype) != "bfloat16" else np.dtype(np.float32)
    return [np.asarray(x, dtype=dt).astype(np.float64) for x in out]


def _worst(res: SearchResult) -> dict[str, np.ndarray]:
    """The input achieving the worst figure (reported as ``worst_input``)."""
    return {} if res.worst_input is None else {"worst_input": np.asarray(res.worst_input)}


@functools.lru_cache(maxsize=32)
def _explored(qset: QuantSet, axis: int | None, dtype: str, max_examples: int
              ) -> list[np.ndarray]:
    return explore(weights_for(qset, axis, dtype), max_examples)


def verify_quantizer(
    fn: Callable[[Any], Any] | str,
    qset: QuantSet | str,
    axis: int | None = None,
    backend: str = "numpy",
    *,
    dtype: str | None = None,
    max_examples: int = 100,
    checks: Sequence[str] | None = None,
    tol_factor: float = 32.0,
    rtol: float | None = None,
    extra_inputs: Iterable[np.ndarray] = (),
    timeout: float | None = None,
) -> Report:
    r"""Check that ``fn`` is an exact projection onto ``qset`` (see the module docstring).

    Args:
        fn: maps an array (numpy, or torch with ``backend="torch"``), 1-D or (with ``axis``) 2-D,
            to its quantization of the same shape, a ``(q, scale)`` tuple, or an object with
            ``.q`` and ``.scale``; or a ``"PATH.py:FUNC"`` string: that function, run in a child
            process (see the module docstring).
        qset: a :class:`theory.sets.QuantSet` or a spec for :func:`theory.parse_qset`.
        axis: None (one scale per tensor) or 0 / 1 / -1 (one scale per slice of a 2-D input).
        backend: ``"numpy"`` or ``"torch"``.
        dtype: dtype handed to ``fn``; default float64 (numpy) / float32 (torch).
        max_examples: hypothesis examples per check (plus the corpus, plus shrinking).
        checks: subset of :data:`proofs_check.quantizer_checks.CHECKS` (default: all).
        tol_factor: c in the tolerance :math:`r = c\,\varepsilon(1+\log_2 n)`
            (:mod:`proofs_check.tolerance`), n the longest slice tested; the value checks'
            rounding slack is multiplied by c/16.
        rtol: use this r instead, and the input-relative bound :math:`r\|w\|^2` instead of the
            rounding slack in the value checks.
        extra_inputs: further inputs evaluated with the corpus (e.g. pinned past failures).
        timeout: seconds per call of a ``"PATH.py:FUNC"`` target (default
            :data:`~proofs_check.isolated.DEFAULT_TIMEOUT` = 10 s); not allowed with a callable.

    Returns:
        a :class:`~proofs_check.report.Report`; ``report.passed`` iff no check failed.

    Raises:
        TypeError / ValueError: bad arguments (unknown set spec, backend, axis, check name).
        proofs_check.isolated.QuantizerLoadError (a ValueError): the ``"PATH.py:FUNC"`` target
            cannot be loaded at all.
    """
    if isinstance(qset, str):
        qset = parse_qset(qset)
    if not isinstance(qset, QuantSet):
        raise TypeError(f"qset must be a QuantSet or a spec string, got {type(qset).__name__}")
    if axis not in (None, 0, 1, -1):
        raise ValueError(f"axis must be None, 0, 1 or -1 (inputs are 1-D or 2-D), got {axis!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not isinstance(max_examples, int) or max_examples < 1:
        raise ValueError(f"max_examples must be a positive int, got {max_examples!r}")
    names = tuple(CHECKS if checks is None else checks)
    for n in names:
        if n not in CHECKS:
            raise ValueError(f"unknown check {n!r}; expected some of {CHECKS}")
    dtype = dtype or ("float64" if backend == "numpy" else "float32")
    if isinstance(fn, str):
        with IsolatedCaller(fn, backend, dtype, axis,
                            DEFAULT_TIMEOUT if timeout is None else timeout) as caller:
            return _verify(caller, caller.name, qset, axis, backend, dtype, max_examples, names,
                           tol_factor, rtol, extra_inputs)
    if timeout is not None:
        raise ValueError("timeout needs a 'PATH.py:FUNC' target (run in a child process); a "
                         "callable runs in this process")
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", type(fn).__name__))
    return _verify(QuantizerCaller(fn, backend, dtype, axis), name, qset, axis, backend, dtype,
                   max_examples, names, tol_factor, rtol, extra_inputs)


def _verify(caller: QuantizerCaller | IsolatedCaller, fn_name: str, qset: QuantSet,
            axis: int | None, backend: str, dtype: str, max_examples: int,
            names: tuple[str, ...], tol_factor: float, rtol: float | None,
            extra_inputs: Iterable[np.ndarray]) -> Report:
    """The checks of :func:`verify_quantizer` with a ready caller."""
    caller = _Recorder(caller)
    inputs = corpus(qset, axis, dtype) + [caller.cast(np.asarray(x, dtype=np.float64))
                                          for x in extra_inputs]
    longest = max(x.size if axis is None else x.size // x.shape[axis] for x in inputs)
    eps_dtype = caller.np_dtype if dtype != "bfloat16" else "bfloat16"
    tol = Tolerance.for_dtype(eps_dtype, longest, tol_factor)
    rel = tol.rel if rtol is None else float(rtol)
    slack = (None if rtol is not None else
             RoundingSlack.for_dtype(eps_dtype, qset.scale is not None, tol_factor))
    # every input is rounded to the working dtype first (a no-op except for bfloat16, whose
    # values the float32 strategies do not generate directly)
    strategy = weights_for(qset, axis, caller.np_dtype).map(caller.cast)
    inputs = inputs + [caller.cast(x) for x in
                       _explored(qset, axis, str(caller.np_dtype), max_examples)]
    # determinism first: shrinking the failures of a non-deterministic fn would be meaningless;
    # contract last: it also sees the inputs on which the other checks met a failure of fn
    order = sorted(names, key=lambda n: (n != "determinism", n == "contract"))
    deterministic = True
    by_name: dict[str, Check] = {}
    for name in order:
        why = applicable(name, qset)
        if why is not None:
            by_name[name] = Check(name, "skip", measure=MEASURES[name], detail=why)
            continue
        tried = inputs + (caller.failed_inputs() if name == "contract" else [])
        measure = make_measure(name, caller, qset, axis, rel, tol.tiny, slack=slack)
        res = search(strategy, measure, tried, max_examples, shrinking=deterministic)
        if name == "determinism":
            deterministic = res.counterexample is None
        by_name[name] = _check_of(name, res, deterministic, measure, rel,
                                  noise_floor(rel, tol.tiny))
    ctx = {"set": qset.spec, "axis": axis, "backend": backend, "dtype": dtype,
           "tolerance r": f"{rel:.3g}", "resolution floor": f"{tol.tiny:.3g}",
           "value slack": ("r*||w||^2 (rtol given)" if slack is None else
                           f"rounding slack S(w, q), u = {slack.u:.3g}, accumulation "
                           f"u = {slack.u_acc:.3g}, factor {slack.factor:g} "
                           "(docs/math/verifier-tolerances.md)"),
           "examples per check": max_examples}
    if isinstance(caller.caller, IsolatedCaller):
        ctx["timeout per call"] = f"{caller.caller.timeout:g} s (child process)"
    return Report(f"verify_quantizer({fn_name})", tuple(by_name[n] for n in names), ctx)


def _note(m: Measured | None) -> str:
    """'excess X of slack Y' from a value check's measure (empty if it has none)."""
    note = (m.extra.get("note") if m else None) or {}
    if not note:
        return ""
    return (f"excess over the optimum {note['excess']:.3g}, rounding slack {note['slack']:.3g}"
            f" (excess/slack {note['excess/slack']:.3g})")


def noise_floor(rel: float, tiny: float) -> str:
    """The resolution below which a check counts a difference as a tie, in words."""
    return f"ties: within r·max|w|, r = {rel:.3g}, or both values below {tiny:.3g}"


def _check_of(name: str, res: SearchResult, deterministic: bool,
              measure: Callable[[np.ndarray], Measured] | None = None,
              rel: float = 0.0, floor: str = "") -> Check:
    """The report line of one check from its search result. A passing value check whose
    figure (a ratio to the optimum) is above 1 + r says why: its excess at the worst input is
    within the rounding slack (``extra["note"]``, shown under the row). A failed check's
    figure and ``worst_input`` are the worst over its FAILING inputs only (each above the
    noise floor ``floor``, stated in the detail); a passing check's, the worst over every
    input."""
    skipped = (f" ({res.n_skipped} skipped: fn failed on them, see contract)"
               if res.n_skipped else "")
    if name == "contract":  # a yes/no property: no figure, no worst input
        res = SearchResult(math.nan, None, res.counterexample, res.counterexample_measure,
                           res.n_evaluated, res.n_skipped)
    if res.counterexample is None:
        if res.n_skipped and res.n_skipped == res.n_evaluated:
            return Check(name, "skip", measure=MEASURES[name],
                         detail="fn failed on every input tried (see contract)")
        extra: dict[str, Any] = dict(_worst(res))
        if (measure is not None and name in ("optimality", "prox_value")
                and res.worst_input is not None and math.isfinite(res.worst)
                and res.worst > 1 + max(rel, NOTE_ABOVE)):
            txt = _note(measure(res.worst_input))
            if txt:
                extra["note"] = (f"figure above 1 + r where dist(w,Q)^2 is within rounding: at "
                                 f"the worst input, {txt}")
        return Check(name, "pass", res.worst, MEASURES[name],
                     detail=f"{res.n_evaluated - res.n_skipped} inputs{skipped}",
                     extra=extra)
    m = res.counterexample_measure
    extra = {k: v for k, v in (m.extra if m else {}).items()}
    why_txt = extra.pop("why", "")
    if extra.pop("note", None):
        why_txt = "; ".join(t for t in (why_txt, _note(m)) if t)
    if name == "contract":
        detail = why_txt
    else:
        detail = f"fails on the counterexample (figure there: {m.figure:.6g})" if m else ""
        if why_txt:
            detail += f"; {why_txt}"
    if "lambda" in extra:
        detail += f"; lambda = {exact_float(extra.pop('lambda'))}"
    extra = {k: np.asarray(v) for k, v in extra.items()}
    if not deterministic and name != "determinism":
        detail += " (fn is not deterministic: counterexample not shrunk)"
    figure, worst = res.worst, _worst(res)
    if name != "contract" and res.worst_failing_input is not None:
        figure = res.worst_failing
        worst = {"worst_input": np.asarray(res.worst_failing_input)}
        detail += "; figure: the worst over the failing inputs only" + (
            f" (noise floor, {floor}: never a failure)" if floor else "")
    return Check(name, "FAIL", figure, MEASURES[name], detail + skipped,
                 res.counterexample, {**extra, **worst})


class _Recorder:
    """A caller that remembers the inputs on which fn failed (for the contract check)."""

    def __init__(self, caller: QuantizerCaller | IsolatedCaller) -> None:
        self.caller = caller
        self._failed: dict[bytes, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.caller, name)

    def failed_inputs(self) -> list[np.ndarray]:
        return list(self._failed.values())

    def run(self, w: np.ndarray) -> tuple[Output, bool]:
        try:
            return self.caller.run(w)
        except QuantizerError as exc:
            if exc.kind != "skipped" and exc.input is not None:
                x = np.asarray(exc.input, dtype=np.float64)
                self._failed.setdefault(repr(x.shape).encode() + x.tobytes(), x)
            raise

    def __call__(self, w: np.ndarray) -> Output:
        return self.run(w)[0]
