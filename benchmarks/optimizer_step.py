"""Optimizer-step cost of qopt relative to the bare base optimizer, and torchao's PARQ.

For each model (an MLP 784-1024-1024-10 and a CIFAR ResNet-20) every Conv/Linear weight is
quantized (biases and BN stay float), gradients are fixed random tensors (the forward/backward pass
is not timed), and we time ``opt.step()`` of

* the bare base optimizer: SGD, momentum 0.9 (foreach), the denominator of every ratio;
* ``qopt/BinaryRelax/SET``: :class:`qopt.QuantOptimizer` on Binary, Ternary and Uniform(4) (one
  scale per tensor, exact projections; one :func:`qopt.projection.project_group` call per group,
  warm-started by the previous step). ``cert_held`` = fraction of the rows that took the
  certified search whose warm-start certificate held, over the timed steps;
* ``proj-loop/SET`` and ``proj-group/SET``: the projections alone on the same tensors, a Python
  loop of per-tensor :func:`qopt.projection.quantize_` calls (the engine's current pattern)
  against one batched call with a workspace and hints (``batched_speedup`` = loop / group);
* torchao's PARQ ``QuantOptimizer`` with ``ProxBinaryRelax`` and ``UnifQuantizer`` at 1, 2, 4
  bits (2^b levels: the grids ``symmetric:b``, not qopt's ternary / 15-level uniform:4), with
  torchao's default ``quant_period=10`` (``torchao/...``) and with ``quant_period=1`` (a new
  scale every step, ``torchao-qp1/...``), when torchao is installed.

Timing: variants are interleaved round-robin (``rounds`` x ``steps`` steps each) so that machine
noise hits all alike; the reported time is the median over rounds of the mean step time; ratios are
taken within the same run. CUDA is synchronised only around each timed block. Every row records
the 1-minute load average when its model was measured.

``python -m benchmarks.optimizer_step [--quick] [--device cuda]`` prints the table; :func:`run`
returns the rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import qopt
from benchmarks.progress import NULL_PROGRESS, SectionProgress
from theory.sets import Binary, QuantSet, Ternary, Uniform

__all__ = ["run", "main"]

SETS: list[tuple[int, QuantSet]] = [(1, Binary()), (2, Ternary()), (4, Uniform(4))]


def _models(quick: bool = False) -> dict[str, Callable[[], nn.Module]]:
    """The measured models; ``quick`` (a smoke run, not a measurement) uses a tiny MLP only."""
    from qopt.models.mlp import MLP
    from qopt.models.resnet_cifar import resnet20

    if quick:
        return {"mlp-tiny": lambda: MLP(784, 10, hidden=(64,))}
    return {"mlp": lambda: MLP(784, 10, hidden=(1024, 1024)), "resnet20": lambda: resnet20()}


def _split(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    qs = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    ids = {id(p) for p in qs}
    return qs, [p for p in model.parameters() if id(p) not in ids]


def _fresh(make: Callable[[], nn.Module], device: torch.device):
    torch.manual_seed(0)
    model = make().to(device)
    g = torch.Generator(device="cpu").manual_seed(1)
    for p in model.parameters():
        p.grad = (0.01 * torch.randn(p.shape, generator=g)).to(device)
    return model


def _sgd(groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=0.01, momentum=0.9)


def _variants(make: Callable[[], nn.Module], device: torch.device) -> dict[str, Any]:
    """name -> (object with .step(), info dict)."""
    out: dict[str, Any] = {}
    model = _fresh(make, device)
    out["bare"] = (_sgd([{"params": list(model.parameters())}]), {"impl": "torch", "method":
                                                                   "SGD", "bits": None})
    for bits, qset in SETS:
        model = _fresh(make, device)
        qp, fp = _split(model)
        # BinaryRelax held in Phase I (no run length: a constant-growth schedule)
        opt = qopt.QuantOptimizer(_sgd([{"params": qp, "qset": qset}, {"params": fp}]),
                                  qopt.BinaryRelax(growth=1.04, phase2_frac=None))
        out[f"qopt/BinaryRelax/{qset.spec}"] = (opt, {"impl": "qopt", "method": "BinaryRelax",
                                                      "bits": bits, "set": qset.spec})
        out[f"proj-loop/{qset.spec}"] = (_ProjLoop(make, device, qset), {
            "impl": "qopt", "method": "projection loop", "bits": bits, "set": qset.spec})
        out[f"proj-group/{qset.spec}"] = (_ProjGroup(make, device, qset), {
            "impl": "qopt", "method": "projection group", "bits": bits, "set": qset.spec})
    try:
        from torchao.prototype.parq.optim import ProxBinaryRelax
        from torchao.prototype.parq.optim import QuantOptimizer as AOQuantOptimizer
        from torchao.prototype.parq.quant import UnifQuantizer
    except Exception:  # pragma: no cover - torchao missing: skip its rows
        return out
    for bits, _ in SETS:
        for impl, period in (("torchao", 10), ("torchao-qp1", 1)):
            model = _fresh(make, device)
            qp, fp = _split(model)
            opt = AOQuantOptimizer(_sgd([{"params": qp, "quant_bits": bits}, {"params": fp}]),
                                   UnifQuantizer(), ProxBinaryRelax(0, 1000), quant_period=period)
            out[f"{impl}/ProxBinaryRelax/{bits}bit"] = (opt, {
                "impl": impl, "method": "ProxBinaryRelax", "bits": bits,
                "set": f"unif:{bits}", "quant_period": period})
    return out


class _ProjLoop:
    """The projections alone: one quantize_ call per tensor (the engine's current pattern)."""

    def __init__(self, make: Callable[[], nn.Module], device: torch.device,
                 qset: QuantSet) -> None:
        from qopt.projection import quantize_

        self.ws = [p.detach().clone() for p in _split(_fresh(make, device))[0]]
        self.out = [torch.empty_like(w) for w in self.ws]
        self.hints: list[Any] = [None] * len(self.ws)
        self.qset, self.q = qset, quantize_

    def step(self) -> None:
        for i, (w, o) in enumerate(zip(self.ws, self.out)):
            self.hints[i] = self.q(o, w, self.qset, None, self.hints[i])


class _ProjGroup(_ProjLoop):
    """The projections alone: one batched call with a workspace and hints."""

    def __init__(self, make: Callable[[], nn.Module], device: torch.device,
                 qset: QuantSet) -> None:
        from qopt.projection import Workspace

        super().__init__(make, device, qset)
        self.wsp, self.h = Workspace(), None

    def step(self) -> None:
        from qopt.projection import project_group

        self.h = project_group(self.ws, self.qset, out=self.out, hints=self.h,
                               workspace=self.wsp).scales


def _time(opt: Any, steps: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / steps


def _context(make: Callable[[], nn.Module], device: torch.device, rounds: int) -> dict[str, Any]:
    """Scale of the step: one elementwise in-place pass over the quantized weights (foreach
    add_) and one forward+backward pass (batch 128, CIFAR / flattened-MNIST-size input)."""
    model = _fresh(make, device)
    qs = [p.detach() for p in _split(model)[0]]
    first = next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    shape = (128, 3, 32, 32) if isinstance(first, nn.Conv2d) else (128, first.in_features)
    x = torch.randn(shape, device=device)
    y = torch.randint(0, 10, (128,), device=device)

    def fb() -> None:
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()

    class _Call:
        def __init__(self, f: Callable[[], None]) -> None:
            self.step = f

    one_pass = _Call(lambda: torch._foreach_add_(qs, 0.0))
    fwd_bwd = _Call(fb)
    _time(one_pass, 2, device)
    _time(fwd_bwd, 1, device)
    pass_t = statistics.median(_time(one_pass, 20, device) for _ in range(rounds))
    fb_t = statistics.median(_time(fwd_bwd, 2, device) for _ in range(rounds))
    return {"pass_us": pass_t * 1e6, "fwd_bwd_us": fb_t * 1e6}


def run(quick: bool = False, progress: SectionProgress | None = None,
        device: str | None = None) -> list[dict[str, Any]]:
    """Time every variant on every model; one row per (model, variant) with ``step_us``,
    ``bare_us`` and ``ratio`` = step / bare step (same run, interleaved). ``quick`` is a smoke
    run (a tiny MLP, few steps): it exercises every variant but measures nothing useful."""
    progress = progress or NULL_PROGRESS
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rounds, steps = (3, 3) if quick else (5, 6)
    rows: list[dict[str, Any]] = []
    models = _models(quick)
    progress.total(len(models))
    for mname, make in models.items():
        variants = _variants(make, dev)
        for opt, _ in variants.values():  # warm-up (lazy state, caches, first projections)
            _time(opt, 2, dev)
        qo = {k: v[0] for k, v in variants.items() if k.startswith("qopt/")}
        before = {k: o._buckets.stats for k, o in qo.items()}
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(rounds):
            for k, (opt, _) in variants.items():
                times[k].append(_time(opt, steps, dev))
        bare = statistics.median(times["bare"])
        nq = sum(p.numel() for p in _split(make())[0])
        extra = _context(make, dev, rounds)
        load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
        new = []
        for k, (_opt, info) in variants.items():
            t = statistics.median(times[k])
            row = {"model": mname, "variant": k, **info, "device": str(dev),
                   "quantized_params": nq, "step_us": t * 1e6, "bare_us": bare * 1e6,
                   "ratio": t / bare, **extra, "load_1m": load}
            if k in qo:
                st = qo[k]._buckets.stats
                searched = st.searched - before[k].searched
                row["cert_held"] = ((st.certified - before[k].certified) / searched
                                    if searched else None)
            if k.startswith("proj-group/"):
                loop = statistics.median(times[k.replace("proj-group/", "proj-loop/")])
                row["batched_speedup"] = loop / t
            new.append(row)
        rows += new
        progress.unit(mname, new)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default=None)
    args = ap.parse_args(argv)
    rows = run(quick=args.quick, device=args.device)
    print(f"{'model':9s} {'variant':36s} {'step_us':>10s} {'ratio':>7s}")
    for r in rows:
        print(f"{r['model']:9s} {r['variant']:36s} {r['step_us']:10.1f} {r['ratio']:7.2f}")
    for r in rows:
        if r["variant"] == "bare":
            print(f"{r['model']}: one elementwise pass over the quantized weights "
                  f"{r['pass_us']:.1f} us; forward+backward (batch 128) {r['fwd_bwd_us']:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
