r"""``QuantOptimizer``: the ``torch.optim`` shell that drives a training method.

The model's quantized parameters hold the point u where the forward/backward pass runs; the
optimizer keeps the latent float weights w and advances them with the base optimizer, using the
gradient taken at u. What u is, where the base step starts and how the schedules move is the
method's (:mod:`qopt.methods`; protocol in :mod:`qopt.methods.base`). This class holds the
groups, the latent copies, the one projection (:mod:`qopt.optim._project`, kept for diagnostics,
evaluation, ``finalize`` and export), the hooks, the non-finite guard
(:mod:`qopt.optim._nonfinite`) and the state dict (:mod:`qopt.optim._state`).

Quantized parameter groups are the base optimizer's groups with a key ``"qset"`` (a
:class:`theory.sets.QuantSet`) and optionally ``"axis"`` (None or int) and ``"names"``; the others
are float groups the base optimizer updates as usual (build them with :func:`qopt.param_groups`).

Hot path: ``torch._foreach_*`` over all quantized tensors; no host-device synchronisation in
:meth:`step` except at a record step (``record_every``) or an epoch boundary, where the non-finite
counters are read once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from qopt.methods.base import RunLength, StepView
from qopt.methods.registry import as_method
from qopt.optim import _checks, _state, diagnostics
from qopt.optim._entries import Entry, make_entries, param_names
from qopt.optim._nonfinite import NonFiniteGuard
from qopt.optim._project import Buckets, project_entries
from qopt.optim._readout import Readout
from qopt.optim.cost import CostMeter
from theory._validate import check_bool, check_int

__all__ = ["QuantOptimizer"]


def _opt_int(x: object, name: str) -> int | None:
    return None if x is None else check_int(x, name, 1, 2**40)


class QuantOptimizer(Readout, torch.optim.Optimizer):
    r"""Projection-based quantized training around a base optimizer.

    Args:
        base: any ``torch.optim.Optimizer`` (SGD, Adam, AdamW, ...); its groups with ``"qset"``
            are quantized.
        method: a method object (``qopt.BinaryConnect()``, ``qopt.BinaryRelax(...)``,
            ``qopt.BCGD(...)``, ``qopt.PARQ(...)``, ``qopt.ProxQuant(...)``) or a registry name.
        epochs, steps_per_epoch: the run's length. With ``steps_per_epoch`` the epoch-based
            schedules advance from :meth:`step` itself (every ``steps_per_epoch`` steps) and
            :meth:`end_epoch` is optional (at a boundary it does nothing). A method whose
            schedule is a fraction of the run needs ``epochs`` (and ``steps_per_epoch`` for
            per-step schedules) and says so at construction.
        nonfinite: ``"raise"`` or ``"skip"``: a step whose gradients or latent weights hold NaN/Inf
            is skipped on device in both cases; at the next record step / epoch boundary /
            :meth:`check_nonfinite` ``"raise"`` raises :class:`qopt.NonFiniteError` and
            ``"skip"`` warns (semantics in :mod:`qopt.optim._nonfinite`).
        record_every: N > 0 makes every N-th step a record step (non-finite report; the gradient
            of the previous step is kept for ``lipschitz_est``); 0 = none. Settable later.
        allow_float_only: accept a base optimizer without any quantized group (else a
            ValueError: such a run would silently train a float model).

    Construction copies each quantized parameter into its latent tensor and writes the first
    forward point into the parameter. LR schedulers can be attached to this object or to
    ``opt.base``; ``param_groups`` is the base's. Step pre/post hooks registered on this object
    fire around :meth:`step` as for any ``torch.optim`` optimizer.

    Raises:
        TypeError: ``base`` is not an optimizer; a bad method object; a ``qset`` that is not a
            QuantSet; a non-floating quantized parameter.
        ValueError: unknown method name; an ``axis`` out of range for a parameter; ``names`` of
            the wrong length; no quantized group; a method needing the run length without it.

    Example::

        >>> import torch, qopt
        >>> from theory.sets import Ternary
        >>> lin = torch.nn.Linear(4, 3)
        >>> base = torch.optim.SGD([{"params": [lin.weight], "qset": Ternary(), "axis": 0},
        ...                         {"params": [lin.bias]}], lr=0.1, momentum=0.9)
        >>> opt = qopt.QuantOptimizer(base, qopt.BinaryConnect())
    """

    def __init__(self, base: torch.optim.Optimizer, method: Any, *, epochs: int | None = None,
                 steps_per_epoch: int | None = None, nonfinite: str = "raise",
                 record_every: int = 0, allow_float_only: bool = False) -> None:
        if not isinstance(base, torch.optim.Optimizer) or isinstance(base, QuantOptimizer):
            raise TypeError(f"base must be a torch.optim.Optimizer, got {type(base).__name__}")
        self.base = base
        self.method = as_method(method)
        self.run = RunLength(_opt_int(epochs, "epochs"),
                             _opt_int(steps_per_epoch, "steps_per_epoch"))
        self.guard = NonFiniteGuard(nonfinite)
        self.record_every = check_int(record_every, "record_every", 0, 2**40)
        self.collect = True
        self.defaults = base.defaults
        for kind in ("step_pre", "step_post", "state_dict_pre", "state_dict_post",
                     "load_state_dict_pre", "load_state_dict_post"):
            setattr(self, f"_optimizer_{kind}_hooks", OrderedDict())
        self._patch_step_function()  # step pre/post hooks fire, as for any torch optimizer
        names = [param_names(g, gi) for gi, g in enumerate(base.param_groups)]
        _checks.check_params(base.param_groups, names)
        self._entries: list[Entry] = []
        for gi, group in enumerate(base.param_groups):
            self._entries += make_entries(group, gi)
        allow_float_only = check_bool(allow_float_only, "allow_float_only")
        if not self._entries and not allow_float_only:
            raise ValueError(
                "QuantOptimizer: the base optimizer has no quantized parameter group (no group "
                "with a 'qset'), so this would train a float model. Build it over "
                "qopt.param_groups(model) after qopt.quantize_model(model, weights=...), or "
                "pass allow_float_only=True if a float model is intended")
        self._limit = _checks.schedule_limit(e.param.dtype for e in self._entries)
        self.state_m = self.method.init_state(self.run)
        self.counters = {"steps": 0, "epochs": 0, "epoch_start": 0}
        self._check_schedule()
        _checks.claim(self, [(n, p) for g, ns in zip(base.param_groups, names)
                             for n, p in zip(ns, g["params"])])
        self._prev: dict[int, dict[str, Tensor]] = {}
        self._stash: dict[int, tuple[Tensor, Tensor]] = {}
        self._rec: dict[int, dict[str, Tensor]] = {}
        self.cost = CostMeter()  # idle unless started: the projection's share of the step
        self._rebuild()
        self._write_forward(project=True)

    # -- construction ------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """Flat lists for the foreach hot path; projection buckets; names of every tensor."""
        self._params = [e.param for e in self._entries]
        self._latents = [e.latent for e in self._entries]
        self._buckets = Buckets(self._entries)
        qids = {id(e.param) for e in self._entries}
        self._floats: list[tuple[str, Tensor]] = []
        for gi, g in enumerate(self.base.param_groups):
            for name, p in zip(param_names(g, gi), g["params"]):
                if id(p) not in qids:
                    self._floats.append((name, p))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to the base optimizer (quantized if it has ``"qset"``)."""
        gi = len(self.base.param_groups)
        self.base.add_param_group(param_group)
        try:
            names = [param_names(g, i) for i, g in enumerate(self.base.param_groups)]
            _checks.check_params(self.base.param_groups, names)
            new = make_entries(self.base.param_groups[-1], gi)
            _checks.claim(self, zip(names[-1], self.base.param_groups[-1]["params"]))
        except (TypeError, ValueError):
            self.base.param_groups.pop()
            raise
        self._entries += new
        self._limit = _checks.schedule_limit(e.param.dtype for e in self._entries)
        self._rebuild()
        self._write_forward(project=True)

    # -- torch.optim.Optimizer surface -------------------------------------------------------
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
        return self.method.scalars(self.state_m).get("lam")

    @property
    def rho(self) -> float | None:
        return self.method.scalars(self.state_m).get("rho")

    @property
    def phase(self) -> int:
        return int(self.method.scalars(self.state_m).get("phase", 2))

    @property
    def steps(self) -> int:
        return self.counters["steps"]

    @property
    def epochs_done(self) -> int:
        return self.counters["epochs"]

    @property
    def phase2_epoch(self) -> int | None:
        """Epoch index at whose start the method switches to Phase II (forward point P(w));
        None when it never switches or has no switch (BinaryConnect, BCGD: exact throughout).
        The trainer may drop the learning rate there."""
        return self.method.phase2_epoch(self.run)

    # -- the step ------------------------------------------------------------------------------
    def _view(self) -> StepView:
        ents = self._entries
        return StepView(self._params, self._latents, [e.scale for e in ents],
                        [e.levels for e in ents], [e.axis for e in ents],
                        [self.base.param_groups[e.group]["lr"] for e in ents],
                        lambda i: ents[i].kept_codes(),
                        lambda i: ents[i].scale_map(), lambda i: ents[i].offset_map())

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One step (see :mod:`qopt.methods.base`). Returns the closure's loss (if any)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            self._step()
        return loss

    def _step(self) -> None:
        c, n = self.counters, self.record_every
        if self.cost.active:
            self.cost.step_begin(c["steps"])
        rec = bool(n) and self.collect and (c["steps"] + 1) % n == 0
        if rec:
            self._rec = diagnostics.record_grads(self._entries, self._stash)
            self._stash = {}
        if bool(n) and self.collect and (c["steps"] + 2) % n == 0:
            self._stash = {i: (e.param.grad.detach().clone(), e.param.detach().clone())
                           for i, e in enumerate(self._entries) if e.param.grad is not None}
        named = [(f"gradient of {e.name}", e.param.grad) for e in self._entries
                 if e.param.grad is not None]
        named += [(f"gradient of float parameter {nm}", p.grad) for nm, p in self._floats
                  if p.grad is not None]
        named += [(f"latent weight {e.name}", e.latent) for e in self._entries]
        found = self.guard.detect(named, c["steps"] + 1) if named else None
        if found is not None and found.device.type == "cpu" and not bool(found):
            found = None  # CPU: reading the flag is free; a clean step needs no snapshot
        view = self._view()
        self.method.start(self.state_m, view)
        fused = found is not None and bool(self.base.defaults.get("fused")) and getattr(
            self.base, "_step_supports_amp_scaling", False)
        if found is not None and not fused:
            live = self._restorable(found, [p for _, p in self._floats] + self._base_state())
            saved = self.guard.snapshot(live)
            known = {id(t) for t in live}
        if fused:
            self.base.found_inf, self.base.grad_scale = found.float(), None
            try:
                self.base.step()
            finally:
                del self.base.found_inf, self.base.grad_scale
        else:
            self.base.step()
        if found is None:
            torch._foreach_copy_(self._latents, self._params)
        else:
            if not fused:
                self.guard.restore(found, live, saved)
                self.guard.zero_new(found, [t for t in self._restorable(found, self._base_state())
                                            if id(t) not in known])
            self.guard.restore(~found, self._latents, self._params)
        c["steps"] += 1
        self.method.advance(self.state_m, "step", c["steps"], c["epochs"])
        self._check_schedule()
        boundary = self.run.steps_per_epoch is not None and \
            c["steps"] - c["epoch_start"] >= self.run.steps_per_epoch
        if boundary:
            self._advance_epoch()
        self._write_forward(project=True)
        if rec or boundary:
            self.guard.report()

    def _base_state(self) -> list[Tensor]:
        """Every tensor of the base optimizer's per-parameter state (for the skip snapshot)."""
        return [v for st in self.base.state.values() for v in st.values()
                if isinstance(v, Tensor)]

    @staticmethod
    def _restorable(found: Tensor, tensors: list[Tensor]) -> list[Tensor]:
        """Tensors a device-side select can restore without a host sync: those on a device of
        the flag's type (a CPU step counter of a CUDA run is not; see _nonfinite)."""
        return [t for t in tensors if t.device.type == found.device.type]

    def _advance_epoch(self) -> None:
        c = self.counters
        c["epochs"] += 1
        c["epoch_start"] = c["steps"]
        self.method.advance(self.state_m, "epoch", c["steps"], c["epochs"])
        self._check_schedule()

    def _check_schedule(self) -> None:
        """The method's schedule values (host floats) are finite in the parameters' dtype
        (:func:`qopt.optim._checks.check_schedule`; no tensor is read)."""
        _checks.check_schedule(self.method, self.state_m, self._limit, self.counters["steps"],
                               self.counters["epochs"])

    def end_epoch(self) -> None:
        """End of an epoch: per-epoch schedules, phase switch, new forward point, non-finite
        report. Optional when ``steps_per_epoch`` was given (a call right at a boundary that
        :meth:`step` already crossed does nothing but report)."""
        c = self.counters
        if not (self.run.steps_per_epoch is not None and c["steps"] == c["epoch_start"]
                and c["steps"] > 0):
            self._advance_epoch()
            self._write_forward(project=False)
        self.guard.report()

    def check_nonfinite(self) -> None:
        """Read the non-finite counters now (one host sync): raise :class:`qopt.NonFiniteError`
        (``nonfinite="raise"``) or warn (``"skip"``) if a step was skipped since the last
        report."""
        self.guard.report()

    # -- forward points and the kept projection --------------------------------------------------
    @torch.no_grad()
    def _write_forward(self, project: bool) -> None:
        """params <- P(w) (projected now, or the kept projection), then the method's u."""
        if not self._entries:
            return
        if project and self.cost.active:  # the first few steps of a measured run only
            with self.cost.projection():
                project_entries(self._buckets)
        elif project:
            project_entries(self._buckets)
        else:
            for e in self._entries:
                e.param.copy_(e.kept_q())
        self.method.forward(self.state_m, self._view())

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """The base optimizer's state dict plus ``"qopt"`` (format in :mod:`qopt.optim._state`);
        loads with ``torch.load(weights_only=True)``."""
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        sd = _state.dump(self)
        for hook in self._optimizer_state_dict_post_hooks.values():
            out = hook(self, sd)
            sd = sd if out is None else out
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        """Restore a :meth:`state_dict` after validating it against this optimizer (method and
        its arguments, groups, sets, axes, shapes, dtypes; errors name the parameter); then
        rewrite the forward points from the latents."""
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            out = hook(self, state_dict)
            state_dict = state_dict if out is None else out
        _state.load(self, state_dict)
        self._write_forward(project=True)
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)
