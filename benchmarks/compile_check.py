"""``torch.compile`` of a quantized training step (issue 22 item 5): does it compile, run and
keep the contract, and what does it cost against eager?

The step is ``zero_grad`` + forward + cross-entropy + backward + ``QuantOptimizer.step()`` of an
MLP 784-1024-1024-10 (``--quick``: 784-64-10) with every Linear weight on ``symmetric:2``
(BinaryConnect around AdamW, lr 1e-3). The model is compiled (``torch.compile(model)``, default
inductor backend); the optimizer step stays eager (the exact projection is data-dependent
numpy/torch code). Checked after the timed steps: every quantized weight is bitwise
``qopt.project`` of its latent (the contract of the hot path), and the losses are finite.
Timing: eager and compiled steps interleaved round-robin
(:func:`benchmarks.timing.time_interleaved`), medians; the first compiled call (compilation) is
timed separately.

``python -m benchmarks.compile_check [--quick] [--device cuda] [--json FILE]``: one JSON object
on stdout (and in FILE): ``compile_s``, ``eager_ms``, ``compiled_ms``, ``speedup``,
``bitwise_project``, ``finite``, ``device``; exit 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import torch
from torch import nn

__all__ = ["run", "main"]


def _build(quick: bool, dev: torch.device, compiled: bool) -> tuple[Any, Any, nn.Module]:
    import qopt
    from qopt.models.mlp import MLP
    from theory.sets import parse_qset

    torch.manual_seed(0)
    model = MLP(784, 10, hidden=(64,) if quick else (1024, 1024)).to(dev)
    qp = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    ids = {id(p) for p in qp}
    fp = [p for p in model.parameters() if id(p) not in ids]
    opt = qopt.QuantOptimizer(torch.optim.AdamW([{"params": qp, "qset": parse_qset(
        "symmetric:2")}, {"params": fp}], lr=1e-3), qopt.BinaryConnect())
    net = torch.compile(model) if compiled else model
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 784, generator=g).to(dev)
    y = torch.randint(0, 10, (128,), generator=g).to(dev)
    losses: list[torch.Tensor] = []

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())

    step.losses = losses  # type: ignore[attr-defined]
    return step, opt, model


def run(quick: bool = False, device: str | None = None) -> dict[str, Any]:
    """Compile, time against eager, check (module docstring)."""
    import qopt
    from benchmarks.timing import device_sync, time_interleaved

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    sync = device_sync(dev)
    eager, _, _ = _build(quick, dev, compiled=False)
    comp, opt, model = _build(quick, dev, compiled=True)
    t0 = time.perf_counter()
    comp()  # compiles forward and backward
    sync()
    compile_s = time.perf_counter() - t0
    t = time_interleaved({"eager": eager, "compiled": comp}, sync=sync,
                         warmup=1 if quick else 3, repeats=1 if quick else 5,
                         min_sample_s=0.0 if quick else 0.05, max_inner=20)
    ok = all(torch.equal(e.param.detach(), qopt.project(e.latent, e.qset, e.axis).q)
             for e in opt._entries)
    finite = bool(torch.isfinite(torch.stack(comp.losses)).all())  # type: ignore[attr-defined]
    e_s, c_s = t["eager"].median_s, t["compiled"].median_s
    return {"device": str(dev), "quick": quick, "compile_s": compile_s, "eager_ms": 1e3 * e_s,
            "compiled_ms": 1e3 * c_s, "speedup": e_s / c_s, "bitwise_project": ok,
            "finite": finite, "torch": torch.__version__}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    res = run(quick=args.quick, device=args.device)
    text = json.dumps(res, indent=1)
    print(text)
    if args.json:
        from qopt.io import atomic_write_text

        atomic_write_text(args.json, text + "\n")
    return 0 if res["bitwise_project"] and res["finite"] else 1


if __name__ == "__main__":
    sys.exit(main())
