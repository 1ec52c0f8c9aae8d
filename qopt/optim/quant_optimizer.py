r"""``QuantOptimizer``: wrap any ``torch.optim`` optimizer for projection-based quantized training.

The model's quantized parameters hold the point u where the forward/backward pass runs; the
optimizer keeps the latent float weights w (``latent`` tensors) and advances them with the base
optimizer, using the gradient taken at u. One step (papers.md §B, §C1; method table in
:mod:`qopt.optim.methods`)::

    [BCGD]   w <- (1 - rho) w + rho u                      (u = P(w): the released code's order)
             params <- w;  base.step()  (gradient = the one taken at u; weight decay acts on w)
             w <- params;  update counters, lambda / rho (per step)
             params <- u_next = P(w)  or  (w + lam P(w)) / (1 + lam)   (BinaryRelax phase I)

Quantized parameter groups are the base optimizer's groups with a key ``"qset"`` (a
:class:`theory.sets.QuantSet`) and optionally ``"axis"`` (None or int) and ``"names"``; the others
are float groups the base optimizer updates as usual.

Hot path: ``torch._foreach_*`` copies/blends over all quantized tensors; the projection is one
vectorised call per tensor (:func:`qopt.projection.quantize_`); one-scale ``Binary`` tensors of a
group are projected together with foreach ops. No host-device sync in :meth:`step` unless
``check_finite=True`` or at a record step (``record_every``), where one sync checks that every
gradient and latent weight is finite (raising ``ValueError`` before any state changes).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from qopt.optim import methods as M
from qopt.optim.diagnostics import lipschitz, tensor_metrics
from qopt.projection import (
    _check_axis,
    _tables,
    check_qset,
    compute_dtype,
    from_rows,
    project_rows,
    quantize_,
    to_rows,
)
from theory.sets import Binary

__all__ = ["QuantOptimizer"]


class _Entry:
    """One quantized tensor: its parameter, latent copy, set, axis and display name."""

    __slots__ = ("param", "latent", "qset", "axis", "name", "group", "hint")

    def __init__(self, param: Tensor, qset: Any, axis: int | None, name: str, group: int):
        self.param, self.qset, self.axis, self.name, self.group = param, qset, axis, name, group
        self.latent = param.detach().clone()
        self.hint: Tensor | None = None  # last optimal scale(s): a warm start, never the answer


class QuantOptimizer(torch.optim.Optimizer):
    r"""Projection-based quantized training around a base optimizer.

    Args:
        base: any ``torch.optim.Optimizer`` (SGD, Adam, AdamW, ...); its groups with ``"qset"``
            are quantized.
        method: ``BinaryConnect()``, ``BinaryRelax(...)``, ``BCGD(...)`` (or their names).
        check_finite: check gradients and latent weights for NaN/Inf at every step (one host
            sync per step). Without it the check runs only at record steps.
        record_every: N > 0 makes every N-th step a record step (finite check; the gradient of
            the previous step is kept for ``lipschitz_est``); 0 = none. Also settable later.

    Construction copies each quantized parameter into its latent tensor and writes the first
    forward point into the parameter. LR schedulers can be attached to this object or to
    ``opt.base``; ``param_groups`` is the base's.

    Raises:
        TypeError: ``base`` is not an optimizer; unknown method type; a ``qset`` that is not a
            QuantSet; a non-floating quantized parameter.
        ValueError: unknown method name; an ``axis`` out of range for a parameter; ``names`` of
            the wrong length.

    Example::

        >>> import torch, qopt
        >>> from theory.sets import Ternary
        >>> lin = torch.nn.Linear(4, 3)
        >>> base = torch.optim.SGD([{"params": [lin.weight], "qset": Ternary(), "axis": 0},
        ...                         {"params": [lin.bias]}], lr=0.1, momentum=0.9)
        >>> opt = qopt.QuantOptimizer(base, qopt.BinaryRelax())
    """

    def __init__(self, base: torch.optim.Optimizer, method: Any, *, check_finite: bool = False,
                 record_every: int = 0) -> None:
        if not isinstance(base, torch.optim.Optimizer) or isinstance(base, QuantOptimizer):
            raise TypeError(f"base must be a torch.optim.Optimizer, got {type(base).__name__}")
        self.base = base
        self.method = M.as_method(method)
        self.check_finite = bool(check_finite)
        self.record_every = record_every
        self.collect = True
        self.defaults = base.defaults
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._entries: list[_Entry] = []
        for gi, group in enumerate(base.param_groups):
            self._entries += self._make_entries(group, gi)
        self._sched = M.initial_state(self.method)
        self._prev: dict[int, dict[str, Tensor]] = {}
        self._stash: dict[int, tuple[Tensor, Tensor]] = {}
        self._rec: dict[int, dict[str, Tensor]] = {}
        self._rebuild()
        self._write_forward()

    # -- construction ------------------------------------------------------------------------
    @staticmethod
    def _make_entries(group: dict[str, Any], gi: int) -> list[_Entry]:
        if group.get("qset") is None:
            return []
        qset = check_qset(group["qset"], f"param_groups[{gi}]['qset']")
        axis = group.get("axis")
        names = group.get("names")
        params = group["params"]
        if names is not None and len(names) != len(params):
            raise ValueError(f"param_groups[{gi}]['names'] has {len(names)} entries for "
                             f"{len(params)} parameters")
        out = []
        for pi, p in enumerate(params):
            name = str(names[pi]) if names is not None else f"g{gi}.p{pi}"
            if not p.dtype.is_floating_point:
                raise TypeError(f"quantized parameter {name} must be floating, got {p.dtype}")
            try:
                ax = _check_axis(axis, p.dim())
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"param_groups[{gi}] parameter {name} of shape "
                                f"{tuple(p.shape)}: {exc}") from None
            if p.numel() == 0:
                raise ValueError(f"quantized parameter {name} is empty")
            out.append(_Entry(p, qset, ax, name, gi))
        return out

    def _rebuild(self) -> None:
        """Flat lists for the foreach hot path; fast Binary buckets per (device, dtype)."""
        self._params = [e.param for e in self._entries]
        self._latents = [e.latent for e in self._entries]
        self._bin: dict[tuple, list[_Entry]] = {}
        self._other: list[_Entry] = []
        for e in self._entries:
            if isinstance(e.qset, Binary) and e.qset.scale is None and e.axis is None \
                    and e.param.dtype in (torch.float32, torch.float64):
                self._bin.setdefault((e.param.device, e.param.dtype), []).append(e)
            else:
                self._other.append(e)
        self._bin_n = {k: [float(e.param.numel()) for e in v] for k, v in self._bin.items()}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to the base optimizer (quantized if it has ``"qset"``)."""
        gi = len(self.base.param_groups)
        self.base.add_param_group(param_group)
        try:
            new = self._make_entries(self.base.param_groups[-1], gi)
        except (TypeError, ValueError):
            self.base.param_groups.pop()
            raise
        self._entries += new
        self._rebuild()
        with torch.no_grad():
            for e in new:
                self._forward_one(e)

    # -- torch.optim.Optimizer surface ---------------------------------------------------------
    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.base.param_groups

    @property
    def state(self) -> Any:  # type: ignore[override]
        return self.base.state

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    def __repr__(self) -> str:
        return f"QuantOptimizer({self.method!r}, base={type(self.base).__name__})"

    @property
    def latent(self) -> dict[Tensor, Tensor]:
        """Map quantized parameter -> its latent float weights (read-only use)."""
        return {e.param: e.latent for e in self._entries}

    @property
    def lam(self) -> float | None:
        return self._sched["lam"]

    @property
    def rho(self) -> float | None:
        return self._sched["rho"]

    @property
    def phase(self) -> int:
        return self._sched["phase"]

    @property
    def steps(self) -> int:
        return self._sched["steps"]

    # -- the step ---------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One step: see the module docstring. Returns the closure's loss (if any)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            self._step()
        return loss

    def _step(self) -> None:
        st, n = self._sched, self.record_every
        rec = bool(n) and self.collect and (st["steps"] + 1) % n == 0
        if self.check_finite or rec:
            self._check_finite()
        if rec:
            self._record_grads()
        if bool(n) and self.collect and (st["steps"] + 2) % n == 0:
            self._stash = {i: (e.param.grad.detach().clone(), e.param.detach().clone())
                           for i, e in enumerate(self._entries) if e.param.grad is not None}
        params, latents = self._params, self._latents
        if params:
            if isinstance(self.method, M.BCGD) and st["rho"] > 0:
                torch._foreach_mul_(latents, 1.0 - st["rho"])
                torch._foreach_add_(latents, params, alpha=st["rho"])
            torch._foreach_copy_(params, latents)
        self.base.step()
        if params:
            torch._foreach_copy_(latents, params)
        M.after_step(self.method, st)
        self._write_forward()

    def end_epoch(self) -> None:
        """Call at the end of every epoch: λ/ρ continuation, phase switch, new forward point."""
        M.after_epoch(self.method, self._sched)
        with torch.no_grad():
            self._write_forward()

    # -- forward points ------------------------------------------------------------------------
    def _forward_one(self, e: _Entry) -> None:
        e.hint = quantize_(e.param, e.latent, e.qset, e.axis, e.hint)
        if M.relaxed(self.method, self._sched):
            lam = self._sched["lam"]
            e.param.mul_(lam).add_(e.latent).div_(1.0 + lam)

    @torch.no_grad()
    def _write_forward(self) -> None:
        """params <- P(w), or the relaxed point (w + λP(w))/(1+λ) in BinaryRelax phase I."""
        for key, ents in self._bin.items():
            ps, ws = [e.param for e in ents], [e.latent for e in ents]
            alphas = torch._foreach_div(torch._foreach_norm(ws, 1), self._bin_n[key])
            torch._foreach_copy_(ps, ws)
            torch._foreach_sign_(ps)  # -1, 0, +1; sign(0) must be +1 (tie rule):
            torch._foreach_mul_(ps, 2.0)
            torch._foreach_add_(ps, 1.0)
            torch._foreach_clamp_max_(ps, 1.0)
            torch._foreach_mul_(ps, alphas)
        for e in self._other:
            e.hint = quantize_(e.param, e.latent, e.qset, e.axis, e.hint)
        if self._params and M.relaxed(self.method, self._sched):
            lam = self._sched["lam"]
            torch._foreach_mul_(self._params, lam)
            torch._foreach_add_(self._params, self._latents)
            torch._foreach_div_(self._params, 1.0 + lam)

    def _exact(self, e: _Entry) -> tuple[Tensor, Tensor, Tensor]:
        """(q, alpha rows (C,), codes) of P(latent), with q = alpha * levels[codes] exactly."""
        cd = compute_dtype(e.latent.dtype)
        alpha, codes = project_rows(to_rows(e.latent, e.axis, cd), e.qset)
        q = alpha[:, None] * _tables(e.qset, cd, e.latent.device)["levels"][codes]
        return (from_rows(q, e.latent.shape, e.axis).to(e.param.dtype), alpha,
                from_rows(codes, e.latent.shape, e.axis))

    @contextlib.contextmanager
    def eval_quantized(self) -> Iterator[None]:
        """Inside: every quantized parameter holds exactly P_Q(latent); restored on exit."""
        with torch.no_grad():
            saved = [p.detach().clone() for p in self._params]
            for e in self._entries:
                e.param.copy_(self._exact(e)[0])
        try:
            yield
        finally:
            with torch.no_grad():
                if saved:
                    torch._foreach_copy_(self._params, saved)

    @torch.no_grad()
    def finalize(self) -> None:
        """Write P_Q(latent) into every quantized parameter for good (end of training)."""
        for e in self._entries:
            e.param.copy_(self._exact(e)[0])

    @torch.no_grad()
    def quantized_state(self) -> dict[Tensor, tuple[Tensor, Tensor, Tensor, int | None]]:
        """param -> (codes int64, scale, levels, axis) with ``scale * levels[codes]`` equal to
        P_Q(latent) (= the parameter after :meth:`finalize` / inside :meth:`eval_quantized`); the
        scale is 0-d, or shaped to broadcast along ``axis``."""
        out = {}
        for e in self._entries:
            _, alpha, codes = self._exact(e)
            cd = compute_dtype(e.latent.dtype)
            levels = _tables(e.qset, cd, e.latent.device)["levels"].clone()
            if e.axis is None:
                scale = alpha[0].clone()
            else:
                shape = [1] * e.latent.dim()
                shape[e.axis] = -1
                scale = alpha.reshape(shape).clone()
            out[e.param] = (codes, scale, levels, e.axis)
        return out

    # -- checks and diagnostics ---------------------------------------------------------------
    def _check_finite(self) -> None:
        named = [(f"gradient of {e.name}", e.param.grad) for e in self._entries
                 if e.param.grad is not None] + [(f"latent weight {e.name}", e.latent)
                                                 for e in self._entries]
        qids = {id(e.param) for e in self._entries}
        for gi, g in enumerate(self.base.param_groups):
            for pi, p in enumerate(g["params"]):
                if id(p) not in qids and p.grad is not None:
                    named.append((f"gradient of float parameter g{gi}.p{pi}", p.grad))
        if not named:
            return
        ok = torch.stack([torch.isfinite(t).all() for _, t in named])
        if not bool(ok.all()):  # the single host sync of the check
            bad = [n for (n, _), good in zip(named, ok.tolist()) if not good]
            raise ValueError(f"non-finite values (NaN/Inf) in {', '.join(bad[:5])}"
                             f"{' ...' if len(bad) > 5 else ''}; step aborted before any update")

    def _record_grads(self) -> None:
        self._rec = {}
        for i, e in enumerate(self._entries):
            g = e.param.grad
            if g is None:
                continue
            rec = {"grad_norm": torch.linalg.vector_norm(g.double())}
            if i in self._stash:
                g0, u0 = self._stash[i]
                rec["lipschitz_est"] = lipschitz(g, e.param, g0, u0)
            self._rec[i] = rec
        self._stash = {}

    @torch.no_grad()
    def diagnostics(self) -> dict[str, Tensor | float]:
        """Diagnostics dict (keys in API.md): per tensor ``NAME/<metric>`` as 0-d float64 tensors
        (no host sync here), plus ``lam`` / ``rho``, ``phase``, ``lr``, ``step``.

        ``flip_frac`` and ``approx_orth_ratio`` compare with the previous call; ``grad_norm`` and
        ``lipschitz_est`` come from the last record step (``record_every``), else the current
        gradient / NaN. See :mod:`qopt.optim.diagnostics` for the formulas.
        """
        out: dict[str, Tensor | float] = {}
        nan = float("nan")
        for i, e in enumerate(self._entries):
            q, _, codes = self._exact(e)
            metrics, self._prev[i] = tensor_metrics(e.latent, q, codes, self._prev.get(i))
            rec = self._rec.get(i, {})
            if "grad_norm" in rec:
                metrics["grad_norm"] = rec["grad_norm"]
            elif e.param.grad is not None:
                metrics["grad_norm"] = torch.linalg.vector_norm(e.param.grad.double())
            else:
                metrics["grad_norm"] = torch.tensor(nan, dtype=torch.float64)
            metrics["lipschitz_est"] = rec.get(
                "lipschitz_est", torch.tensor(nan, dtype=torch.float64, device=e.latent.device))
            for k, v in metrics.items():
                out[f"{e.name}/{k}"] = v
        if self._sched["lam"] is not None:
            out["lam"] = float(self._sched["lam"])
        if self._sched["rho"] is not None:
            out["rho"] = float(self._sched["rho"])
        out["phase"] = float(self._sched["phase"])
        qg = [g for g in self.base.param_groups if g.get("qset") is not None]
        lr = (qg or self.base.param_groups)[0]["lr"]
        out["lr"] = float(lr) if not torch.is_tensor(lr) else lr
        out["step"] = float(self._sched["steps"])
        return out

    # -- checkpoints -----------------------------------------------------------------------------
    def _index(self) -> dict[int, int]:
        ids, k = {}, 0
        for g in self.base.param_groups:
            for p in g["params"]:
                ids[id(p)] = k
                k += 1
        return ids

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """The base optimizer's state dict (sets written as their text spec, so it loads with
        ``torch.load(weights_only=True)``) plus ``"qopt"``: latent weights by parameter index,
        λ, ρ, phase, step and epoch counters, the method, and the diagnostics' previous record (so
        ``flip_frac``, ``approx_orth_ratio`` and ``lipschitz_est`` carry across a resume)."""
        sd = self.base.state_dict()
        sd["param_groups"] = [{**g, "qset": g["qset"].spec} if g.get("qset") is not None else g
                              for g in sd["param_groups"]]
        idx = self._index()
        sd["qopt"] = {"version": 2, "method": type(self.method).__name__,
                      "method_args": dict(vars(self.method)),
                      "sched": dict(self._sched),
                      "latent": {idx[id(e.param)]: e.latent for e in self._entries},
                      # diagnostics' previous record (flip_frac, approx_orth_ratio) and the
                      # gradient/point kept for lipschitz_est, so they carry across a resume
                      "diag": {"prev": self._by_index(self._prev, idx),
                               "stash": self._by_index(self._stash, idx),
                               "rec": self._by_index(self._rec, idx)},
                      # warm-start scales of the projection search (a hint: the result is exact
                      # without it; kept so a resumed run repeats even exact-tie choices)
                      "hint": {idx[id(e.param)]: e.hint for e in self._entries
                               if e.hint is not None}}
        return sd

    def _by_index(self, d: dict[int, Any], idx: dict[int, int]) -> dict[int, Any]:
        """Re-key a per-entry dict (entry position) by the parameter's state-dict index."""
        return {idx[id(self._entries[i].param)]: v for i, v in d.items()}

    def _from_index(self, d: dict[int, Any], idx: dict[int, int]) -> dict[int, Any]:
        pos = {idx[id(e.param)]: i for i, e in enumerate(self._entries)}
        return {pos[int(k)]: v for k, v in d.items() if int(k) in pos}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        """Restore a :meth:`state_dict`; then rewrite the forward points from the latents, so the
        model's parameters are consistent whatever order model/optimizer states are loaded in."""
        if not isinstance(state_dict, dict) or "qopt" not in state_dict:
            raise ValueError("state_dict is not a QuantOptimizer state dict (no 'qopt' entry)")
        sd = dict(state_dict)
        q = sd.pop("qopt")
        if q.get("method") != type(self.method).__name__:
            raise ValueError(f"state_dict was saved with method {q.get('method')!r}, this "
                             f"optimizer uses {type(self.method).__name__!r}")
        saved = sd.get("param_groups", [])
        if len(saved) != len(self.base.param_groups):
            raise ValueError(f"state_dict has {len(saved)} param groups, the optimizer has "
                             f"{len(self.base.param_groups)}")
        groups = []
        for gi, (sg, g) in enumerate(zip(saved, self.base.param_groups)):
            spec = g["qset"].spec if g.get("qset") is not None else None
            if sg.get("qset") != spec or sg.get("axis") != g.get("axis"):
                raise ValueError(f"param group {gi}: saved qset/axis {sg.get('qset')!r}/"
                                 f"{sg.get('axis')!r} differ from {spec!r}/{g.get('axis')!r}")
            groups.append({**sg, "qset": g.get("qset")} if "qset" in sg else sg)
        sd["param_groups"] = groups
        self.base.load_state_dict(sd)
        idx = self._index()
        with torch.no_grad():
            for e in self._entries:
                e.latent.copy_(q["latent"][idx[id(e.param)]])
        self._sched = dict(q["sched"])
        hints = q.get("hint", {})
        for e in self._entries:
            h = hints.get(idx[id(e.param)])
            e.hint = None if h is None else h.to(e.latent.device).clone()
        diag = q.get("diag", {})  # absent in version-1 state dicts: diagnostics start afresh
        dev = {i: e.latent.device for i, e in enumerate(self._entries)}

        def to(i: int, v: Any) -> Any:
            if torch.is_tensor(v):
                return v.to(dev[i]).clone()
            if isinstance(v, dict):
                return {k: to(i, x) for k, x in v.items()}
            return tuple(to(i, x) for x in v)

        self._prev, self._stash, self._rec = (
            {i: to(i, v) for i, v in self._from_index(diag.get(key, {}), idx).items()}
            for key in ("prev", "stash", "rec"))
        self._write_forward()
