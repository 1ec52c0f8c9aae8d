r"""Checks of what a :class:`~qopt.QuantOptimizer` is built over, loads, and schedules.

* **Construction** (:func:`check_params`, :func:`claim`): every parameter of the base optimizer
  is finite (one foreach norm per dtype group, read once: construction is not the hot path), no
  parameter is listed twice (torch only warns for a duplicate inside one group, and the
  parameter would then be updated twice per step), and no parameter belongs to two live
  QuantOptimizers (each would write its own forward point and latent copy into it). Ownership
  is a registry of weak references: an optimizer that is garbage collected releases its
  parameters.
* **Schedules** (:func:`check_schedule`): the method's state is plain Python numbers (λ, ρ,
  growth, rates, ...), computed on the host; after every advance each float must be finite
  *and* representable in the parameters' dtype — the value is multiplied into parameter
  tensors (e.g. BinaryRelax's :math:`u = (w + \lambda P(w))/(1+\lambda)`), and a Python scalar
  beyond ``finfo(dtype).max`` becomes ±inf there, so the forward point would be inf/inf = NaN.
  Checking host floats adds no host-device synchronisation.
* **Loading** (:func:`check_finite`, :func:`check_method_state`, :func:`check_counters`):
  latent weights, base-optimizer buffers (momentum, Adam moments), warm-start hints and the
  method's state are finite, counters are non-negative integers; every error names the key.

SOURCE: derived here (input validation; the overflow bound is IEEE 754's largest finite value).
"""

from __future__ import annotations

import dataclasses
import gc
import math
import weakref
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["ScheduleOverflowError", "check_counters", "check_finite", "check_method_state",
           "check_params", "check_schedule", "claim", "release", "schedule_limit"]


class ScheduleOverflowError(ValueError, OverflowError):
    """A schedule value of the method (λ, ρ, ...) is no longer finite in the parameters' dtype:
    the schedule's configuration (initial value, growth, length) overflows."""


# -- construction ------------------------------------------------------------------------------
def check_params(groups: list[dict[str, Any]], names: list[list[str]]) -> None:
    """``ValueError`` naming the parameter when one is listed twice or holds NaN/Inf.

    Args:
        groups: the base optimizer's param groups. names: display names per group."""
    seen: dict[int, str] = {}
    tensors, labels = [], []
    for g, gnames in zip(groups, names):
        for p, name in zip(g["params"], gnames):
            if id(p) in seen:
                raise ValueError(f"QuantOptimizer: parameter {name} is listed twice (already as "
                                 f"{seen[id(p)]}); it would be updated twice per step: list each "
                                 "parameter in one group, once")
            seen[id(p)] = name
            if p.is_floating_point():
                tensors.append(p.detach())
                labels.append(name)
    if tensors:
        from qopt.optim._nonfinite import finite_flags

        ok = finite_flags(tensors)
        if not bool(ok.all()):
            bad = labels[int((~ok).nonzero()[0])]
            raise ValueError(f"QuantOptimizer: parameter {bad} holds NaN/Inf; the weights must "
                             "be finite at construction")


#: id(parameter) -> (weak ref to the parameter, weak ref to its QuantOptimizer)
_OWNERS: dict[int, tuple[weakref.ref, weakref.ref]] = {}


def _owner(p: Tensor) -> Any:
    rec = _OWNERS.get(id(p))
    if rec is None or rec[0]() is not p:
        return None
    return rec[1]()


def claim(opt: Any, params: Iterable[tuple[str, Tensor]]) -> None:
    """Register ``opt`` as the owner of ``params`` ((name, tensor) pairs).

    Raises:
        ValueError: a parameter is owned by another live QuantOptimizer (named)."""
    params = list(params)
    for attempt in range(2):
        owners = [(n, _owner(p)) for n, p in params]
        clash = [(n, o) for n, o in owners if o is not None and o is not opt]
        del owners
        if not clash:
            break
        if attempt == 0:
            del clash  # (it holds the owners)
            gc.collect()  # an unreachable optimizer in a reference cycle: let it go first
    else:
        name, other = clash[0]
        msg = (f"QuantOptimizer: parameter {name} already belongs to another live "
               f"QuantOptimizer ({other!r}); a parameter may be driven by one QuantOptimizer "
               "only (delete the other one first)")
        del clash, other  # the traceback must not keep the other optimizer alive
        raise ValueError(msg)
    for k in [k for k, (pr, orf) in _OWNERS.items() if pr() is None or orf() is None]:
        del _OWNERS[k]
    ref = weakref.ref(opt)
    for _, p in params:
        _OWNERS[id(p)] = (weakref.ref(p), ref)


def release(opt: Any) -> None:
    """Forget every parameter owned by ``opt``."""
    for k in [k for k, (_, orf) in _OWNERS.items() if orf() is opt or orf() is None]:
        del _OWNERS[k]


# -- schedules ---------------------------------------------------------------------------------
def schedule_limit(dtypes: Iterable[torch.dtype]) -> float:
    """Largest finite value of the narrowest of ``dtypes`` (float64's when none)."""
    return min((torch.finfo(d).max for d in dtypes if d.is_floating_point),
               default=torch.finfo(torch.float64).max)


def check_schedule(method: Any, state: Any, limit: float, step: int, epoch: int) -> None:
    """Every float of the method's ``state`` is finite and within ``limit`` in magnitude.

    Host Python numbers only (no tensor is read).

    Raises:
        ScheduleOverflowError: naming the method, the value and the step."""
    for k, v in vars(state).items():
        if type(v) is float and not -limit <= v <= limit:
            cls = type(method).__name__
            raise ScheduleOverflowError(
                f"{cls}: schedule value {k} = {v!r} at optimizer step {step} (epoch {epoch}) is "
                f"not finite in the parameters' dtype (largest finite value {limit:.3g}): the "
                f"schedule overflows; choose a smaller initial value or growth for {cls} "
                f"({method!r})")


# -- loading -----------------------------------------------------------------------------------
def check_finite(what: str, t: Any) -> None:
    """``ValueError`` naming ``what`` when the tensor ``t`` is floating and holds NaN/Inf."""
    if torch.is_tensor(t) and (t.is_floating_point() or t.is_complex()) and t.numel() \
            and not bool(torch.isfinite(t).all()):
        raise ValueError(f"state_dict: NaN/Inf in {what}; refused (a resumed run would "
                         "continue from non-finite values)")


def check_method_state(cls: type, d: Any, method_name: str) -> dict[str, Any]:
    """The method's saved state: exactly the fields of ``cls``, each None or a finite real
    number >= 0 (every method's λ, ρ, growth, rate, slope, unit index and phase is)."""
    if not isinstance(d, dict):
        raise TypeError(f"state_dict: qopt.state must be a dict of the {method_name} state, got "
                        f"{type(d).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    if set(d) != fields:
        raise ValueError(f"state_dict: qopt.state has keys {sorted(d)}, the {method_name} state "
                         f"has {sorted(fields)}")
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"state_dict: qopt.state.{k} of {method_name} must be a number, got "
                            f"{type(v).__name__} {v!r}")
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"state_dict: qopt.state.{k} of {method_name} must be finite and "
                             f">= 0, got {v!r}")
    return d


def check_counters(d: Any) -> dict[str, int]:
    """``steps``, ``epochs``, ``epoch_start``: non-negative ints, ``epoch_start <= steps``."""
    if not isinstance(d, dict):
        raise TypeError(f"state_dict: qopt.counters must be a dict, got {type(d).__name__}")
    out = {}
    for k in ("steps", "epochs", "epoch_start"):
        if k not in d:
            raise ValueError(f"state_dict: qopt.counters has no {k!r}")
        v = d[k]
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"state_dict: qopt.counters.{k} must be an int, got "
                            f"{type(v).__name__} {v!r}")
        if v < 0:
            raise ValueError(f"state_dict: qopt.counters.{k} must be >= 0, got {v}")
        out[k] = v
    if out["epoch_start"] > out["steps"]:
        raise ValueError(f"state_dict: qopt.counters.epoch_start ({out['epoch_start']}) is after "
                         f"steps ({out['steps']})")
    return out
