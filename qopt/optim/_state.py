"""State dict of :class:`~qopt.QuantOptimizer`: dump, validate, load.

Format: the base optimizer's state dict (sets written as their text spec, so the whole dict loads
with ``torch.load(weights_only=True)``) plus ``"qopt"``::

    {"version": 3, "method": <registry name>, "method_args": {field: value},
     "run": {"epochs", "steps_per_epoch"}, "state": <the method's typed state as a dict>,
     "counters": {"steps", "epochs", "epoch_start"},
     "latent": {param index: tensor}, "meta": {param index: {"name", "shape", "dtype"}},
     "diag": {"prev", "stash", "rec"}, "hint": {param index: tensor},
     "nonfinite": {"skipped": int}}

(param index = position in the flattened base param groups, as torch numbers them.) Version-2
dicts (before the method redesign) load too.

Loading validates everything that would otherwise broadcast, mix or fail obscurely, and names the
parameter: the method and each of its arguments, the run length, the number of groups and
parameters, each group's set and axis, each latent's and base-state tensor's shape, each latent's
dtype; and every value (:mod:`qopt.optim._checks`): latents, base-optimizer buffers and hints
finite, the method's state finite numbers >= 0 within the parameters' dtype, counters
non-negative ints. Every failure is a ``ValueError`` (a ``TypeError`` for a value of the wrong
type), naming the key; never a raw ``KeyError``/``RuntimeError``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from qopt.methods.registry import METHODS
from qopt.optim._checks import check_counters, check_finite, check_method_state
from qopt.optim._entries import param_names

__all__ = ["dump", "load"]

VERSION = 3


def _index(opt: Any) -> dict[int, int]:
    ids, k = {}, 0
    for g in opt.base.param_groups:
        for p in g["params"]:
            ids[id(p)] = k
            k += 1
    return ids


def _by_index(opt: Any, d: dict[int, Any], idx: dict[int, int]) -> dict[int, Any]:
    return {idx[id(opt._entries[i].param)]: v for i, v in d.items()}


def dump(opt: Any) -> dict[str, Any]:
    """The state dict (module docstring)."""
    sd = opt.base.state_dict()
    sd["param_groups"] = [{**g, "qset": g["qset"].spec} if g.get("qset") is not None else g
                          for g in sd["param_groups"]]
    idx = _index(opt)
    sd["qopt"] = {
        "version": VERSION, "method": opt.method.name,
        "method_args": dataclasses.asdict(opt.method),
        "run": dataclasses.asdict(opt.run),
        "state": dataclasses.asdict(opt.state_m),
        "counters": dict(opt.counters),
        "latent": {idx[id(e.param)]: e.latent for e in opt._entries},
        "meta": {idx[id(e.param)]: {"name": e.name, "shape": list(e.latent.shape),
                                    "dtype": str(e.latent.dtype).replace("torch.", "")}
                 for e in opt._entries},
        # diagnostics' previous record and the gradient/point kept for lipschitz_est, so
        # flip_frac / approx_orth_ratio / lipschitz_est carry across a resume
        "diag": {"prev": _by_index(opt, opt._prev, idx), "stash": _by_index(opt, opt._stash, idx),
                 "rec": _by_index(opt, opt._rec, idx)},
        # warm-start scales of the projection search (a hint: the result is exact without it;
        # kept so a resumed run repeats even exact-tie choices)
        "hint": {idx[id(e.param)]: e.hint for e in opt._entries if e.hint is not None},
        "nonfinite": opt.guard.state_dict(),
    }
    return sd


def _from_v2(q: dict[str, Any]) -> dict[str, Any]:
    """A version-2 "qopt" entry in the version-3 layout (method class name, "sched" dict)."""
    by_class = {cls.__name__: name for name, cls in METHODS.items()}
    sched = q["sched"]
    name = by_class.get(q.get("method"), q.get("method"))
    state = {"binaryrelax": {"lam": sched.get("lam"), "phase": sched.get("phase")},
             "bcgd": {"rho": sched.get("rho")}}.get(name, {})
    return {**q, "method": name, "state": state, "run": None,
            "counters": {"steps": sched["steps"], "epochs": sched["epochs"],
                         "epoch_start": sched["steps"]}}


def _check_method(opt: Any, q: dict[str, Any]) -> None:
    name = opt.method.name
    if q.get("method") != name:
        raise ValueError(f"state_dict was saved with method {q.get('method')!r}, this optimizer "
                         f"uses {name!r}")
    saved, here = dict(q.get("method_args") or {}), dataclasses.asdict(opt.method)
    diff = sorted(k for k in set(saved) | set(here) if saved.get(k, "<absent>") !=
                  here.get(k, "<absent>"))
    if diff:
        parts = ", ".join(f"{k}: saved {saved.get(k, '<absent>')!r}, here "
                          f"{here.get(k, '<absent>')!r}" for k in diff)
        raise ValueError(f"state_dict was saved with different {name} arguments ({parts}); "
                         f"build the method with the saved arguments to resume")
    run = q.get("run")
    if run is not None and run != dataclasses.asdict(opt.run):
        raise ValueError(f"state_dict was saved for a run of {run}, this optimizer has "
                         f"{dataclasses.asdict(opt.run)} (epochs / steps_per_epoch must match: "
                         f"they set the schedules)")


def _check_groups(opt: Any, sd: dict[str, Any]) -> list[dict[str, Any]]:
    saved = sd.get("param_groups")
    groups = opt.base.param_groups
    if not isinstance(saved, list) or len(saved) != len(groups):
        n = len(saved) if isinstance(saved, list) else "no"
        raise ValueError(f"state_dict has {n} param groups, the optimizer has {len(groups)}")
    out = []
    for gi, (sg, g) in enumerate(zip(saved, groups)):
        if not isinstance(sg, dict) or len(sg.get("params", ())) != len(g["params"]):
            raise ValueError(f"param group {gi}: saved {len(sg.get('params', ()))} parameters, "
                             f"the optimizer has {len(g['params'])} ({param_names(g, gi)})")
        spec = g["qset"].spec if g.get("qset") is not None else None
        if sg.get("qset") != spec or sg.get("axis") != g.get("axis") \
                or sg.get("group_size") != g.get("group_size"):
            raise ValueError(f"param group {gi}: saved qset/axis/group_size {sg.get('qset')!r}/"
                             f"{sg.get('axis')!r}/{sg.get('group_size')!r} differ from "
                             f"{spec!r}/{g.get('axis')!r}/{g.get('group_size')!r}")
        _check_hyperparameters(gi, sg, g)
        out.append({**sg, "qset": g.get("qset")} if "qset" in sg else sg)
    return out


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_hyperparameters(gi: int, saved: dict[str, Any], live: dict[str, Any]) -> None:
    """Every numeric hyperparameter of a saved group (lr, momentum, weight_decay, eps, betas,
    ...) that the live group holds as a number must be a finite number again, and >= 0 where
    the live value is (a NaN lr or a momentum of -5 would otherwise be loaded silently)."""
    for key, lv in live.items():
        if key in ("params", "qset", "axis", "group_size") or key not in saved:
            continue
        sv = saved[key]
        if _real(lv):
            vals, want = [sv], [lv]
        elif isinstance(lv, (tuple, list)) and lv and all(_real(x) for x in lv):
            if not isinstance(sv, (tuple, list)) or len(sv) != len(lv):
                raise ValueError(f"param group {gi}: {key} must be a sequence of {len(lv)} "
                                 f"numbers, got {sv!r}")
            vals, want = list(sv), list(lv)
        else:
            continue
        for v, w in zip(vals, want):
            if not _real(v) or not math.isfinite(v) or (w >= 0 and v < 0):
                raise ValueError(f"param group {gi}: {key} must be a finite number"
                                 f"{' >= 0' if w >= 0 else ''}, got {sv!r}")


def _check_tensors(opt: Any, sd: dict[str, Any], q: dict[str, Any], idx: dict[int, int]) -> None:
    params = [(n, p) for gi, g in enumerate(opt.base.param_groups)
              for n, p in zip(param_names(g, gi), g["params"])]
    for k, st in (sd.get("state") or {}).items():
        if not 0 <= int(k) < len(params):
            raise ValueError(f"state_dict holds base-optimizer state for parameter index {k}, "
                             f"the optimizer has {len(params)} parameters")
        name, p = params[int(k)]
        for key, v in st.items():
            if torch.is_tensor(v) and v.dim() > 0 and v.shape != p.shape:
                raise ValueError(f"base-optimizer state {key!r} of parameter {name} has shape "
                                 f"{tuple(v.shape)}, the parameter {tuple(p.shape)}")
            check_finite(f"base-optimizer state {key!r} of parameter {name}", v)
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"state_dict: base-optimizer state {key!r} of parameter {name} "
                                 f"is {v!r}; refused")
    lat = q.get("latent")
    if not isinstance(lat, dict):
        raise ValueError("malformed QuantOptimizer state dict: no 'latent' tensors")
    for e in opt._entries:
        w = lat.get(idx[id(e.param)])
        if not torch.is_tensor(w):
            raise ValueError(f"state_dict has no latent weights for quantized parameter {e.name}"
                             f" (index {idx[id(e.param)]})")
        if w.shape != e.latent.shape:
            raise ValueError(f"latent weights of {e.name} have shape {tuple(w.shape)} in the "
                             f"state_dict, the parameter {tuple(e.latent.shape)}")
        if w.dtype != e.latent.dtype:
            raise ValueError(f"latent weights of {e.name} have dtype {w.dtype} in the "
                             f"state_dict, the parameter {e.latent.dtype}")
        check_finite(f"latent weights of {e.name}", w)
        h = (q.get("hint") or {}).get(idx[id(e.param)])
        if h is not None:
            if not torch.is_tensor(h):
                raise TypeError(f"state_dict: projection hint of {e.name} must be a tensor, got "
                                f"{type(h).__name__}")
            check_finite(f"projection hint of {e.name}", h)
    extra = set(int(k) for k in lat) - {idx[id(e.param)] for e in opt._entries}
    if extra:
        raise ValueError(f"state_dict has latent weights for parameter indices {sorted(extra)}, "
                         f"which are not quantized here")


def _check_schedule_values(opt: Any, state: Any, counters: dict[str, int]) -> None:
    from qopt.optim._checks import check_schedule

    check_schedule(opt.method, state, opt._limit, counters["steps"], counters["epochs"])


def load(opt: Any, state_dict: dict[str, Any]) -> None:
    """Validate ``state_dict`` against ``opt`` and load it (module docstring)."""
    if not isinstance(state_dict, dict) or "qopt" not in state_dict:
        raise ValueError("state_dict is not a QuantOptimizer state dict (no 'qopt' entry)")
    sd = dict(state_dict)
    q = sd.pop("qopt")
    try:
        if q.get("version", 2) < 3:
            q = _from_v2(q)
        _check_method(opt, q)
        groups = _check_groups(opt, sd)
        idx = _index(opt)
        _check_tensors(opt, sd, q, idx)
        raw_state, raw_counters = q["state"], q["counters"]
        skipped = (q.get("nonfinite") or {}).get("skipped", 0)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed QuantOptimizer state dict: {type(exc).__name__}: {exc}"
                         ) from None
    state = type(opt.state_m)(**check_method_state(type(opt.state_m), raw_state,
                                                   opt.method.name))
    counters = check_counters(raw_counters)
    if isinstance(skipped, bool) or not isinstance(skipped, int) or skipped < 0:
        raise ValueError(f"state_dict: qopt.nonfinite.skipped must be an int >= 0, got "
                         f"{skipped!r}")
    _check_schedule_values(opt, state, counters)
    sd["param_groups"] = groups
    try:
        opt.base.load_state_dict(sd)
    except (KeyError, RuntimeError) as exc:
        raise ValueError(f"base optimizer state does not load: {exc}") from None
    with torch.no_grad():
        for e in opt._entries:
            e.latent.copy_(q["latent"][idx[id(e.param)]])
    opt.state_m, opt.counters = state, counters
    opt.guard.skipped = skipped
    for e in opt._entries:
        h = (q.get("hint") or {}).get(idx[id(e.param)])
        e.hint = None if h is None else h.to(e.latent.device).clone()
    pos = {idx[id(e.param)]: i for i, e in enumerate(opt._entries)}
    dev = {i: e.latent.device for i, e in enumerate(opt._entries)}

    def to(i: int, v: Any) -> Any:
        if torch.is_tensor(v):
            return v.to(dev[i]).clone()
        if isinstance(v, dict):
            return {k: to(i, x) for k, x in v.items()}
        return tuple(to(i, x) for x in v)

    diag = q.get("diag") or {}  # absent in version-1 dicts: diagnostics start afresh
    opt._prev, opt._stash, opt._rec = (
        {pos[int(k)]: to(pos[int(k)], v) for k, v in (diag.get(key) or {}).items()
         if int(k) in pos} for key in ("prev", "stash", "rec"))
