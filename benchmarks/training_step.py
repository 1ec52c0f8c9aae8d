"""The whole training step of the MLP with AdamW: float vs qopt vs torchao (issue 14 item 2).

One step = ``zero_grad`` + forward + cross-entropy + backward + ``optimizer.step()`` of an MLP
784-1024-1024-10 (1.86M quantized weights: every Linear weight; biases float) on a fixed
synthetic batch of 128 (flattened MNIST size), AdamW (lr 1e-3). Variants:

* ``float``: plain AdamW, the denominator of ``rel_step`` (variant step / float step);
* ``qopt/SET``: :class:`qopt.QuantOptimizer` with BinaryRelax around AdamW on ``ternary`` and
  ``symmetric:2`` (2 bits), ``uniform:4`` and ``symmetric:4`` (4 bits), its projections one
  :func:`qopt.projection.project_group` call per group; ``cert_held`` = the warm-start
  certificate's hit fraction over the rows that took the certified search;
* ``torchao/SET`` and ``torchao-qp1/SET``: torchao's PARQ ``ProxBinaryRelax`` with
  ``UnifQuantizer`` on the same symmetric grids (2^b levels, b = 2, 4), default
  ``quant_period=10`` and ``quant_period=1``.

Targets (issue 14 item 2): 2 bits within 1.25x and 4 bits within 1.5x of the float step, below
torchao's ``quant_period=1`` step at the same grid (``met``). Timing: round-robin
(:func:`benchmarks.timing.time_interleaved`), CUDA-synchronised; the load average is recorded.
``python -m benchmarks.training_step [--quick] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch
from torch import nn

from benchmarks.progress import NULL_PROGRESS, SectionProgress
from benchmarks.timing import device_sync, time_interleaved
from theory.sets import parse_qset

__all__ = ["run", "main", "SETS"]

#: qopt set -> (bits of the matching torchao grid, target ratio to the float step)
SETS: dict[str, tuple[int, float]] = {"ternary": (2, 1.25), "symmetric:2": (2, 1.25),
                                      "uniform:4": (4, 1.5), "symmetric:4": (4, 1.5)}


def _model(quick: bool) -> nn.Module:
    from qopt.models.mlp import MLP

    torch.manual_seed(0)
    return MLP(784, 10, hidden=(64,) if quick else (1024, 1024))


def _split(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    qs = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    ids = {id(p) for p in qs}
    return qs, [p for p in model.parameters() if id(p) not in ids]


def _adamw(groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=1e-3, foreach=True)


def _optimizers(model: nn.Module, spec: str | None, impl: str) -> Any:
    if spec is None:
        return _adamw([{"params": list(model.parameters())}])
    qp, fp = _split(model)
    if impl.startswith("torchao"):
        from torchao.prototype.parq.optim import ProxBinaryRelax
        from torchao.prototype.parq.optim import QuantOptimizer as AOQuantOptimizer
        from torchao.prototype.parq.quant import UnifQuantizer

        bits = SETS[spec][0]
        return AOQuantOptimizer(_adamw([{"params": qp, "quant_bits": bits}, {"params": fp}]),
                                UnifQuantizer(), ProxBinaryRelax(0, 1000),
                                quant_period=1 if impl == "torchao-qp1" else 10)
    import qopt

    return qopt.QuantOptimizer(_adamw([{"params": qp, "qset": parse_qset(spec)},
                                       {"params": fp}]),
                               qopt.BinaryRelax(growth=1.04, phase2_frac=None))  # Phase I


def _step_fn(spec: str | None, impl: str, dev: torch.device, quick: bool) -> tuple[Any, Any]:
    model = _model(quick).to(dev)
    opt = _optimizers(model, spec, impl)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 784, generator=g).to(dev)
    y = torch.randint(0, 10, (128,), generator=g).to(dev)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step, opt


def _torchao() -> bool:
    try:
        import torchao.prototype.parq  # noqa: F401
    except Exception:  # noqa: BLE001 - torchao missing or broken: its rows are skipped
        return False
    return True


def run(quick: bool = False, progress: SectionProgress | None = None,
        device: str | None = None) -> list[dict[str, Any]]:
    """One row per variant: ``step_ms``, ``rel_step`` (to float), ``target``, ``met``,
    ``vs_torchao_qp1`` (qopt step / torchao quant_period=1 step), ``cert_held``, load."""
    progress = progress or NULL_PROGRESS
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    impls = ["qopt"] + (["torchao", "torchao-qp1"] if _torchao() else [])
    plan = [("float", None, "torch")] + [(f"{i}/{s}", s, i) for s in SETS for i in impls]
    progress.total(1)
    steps, opts = {}, {}
    for name, spec, impl in plan:
        steps[name], opts[name] = _step_fn(spec, impl, dev, quick)
    qo = {k: o for k, o in opts.items() if k.startswith("qopt/")}
    t = time_interleaved(steps, sync=device_sync(dev), warmup=1 if quick else 3,
                         repeats=1 if quick else 7, min_sample_s=0.0 if quick else 0.05,
                         max_inner=50)
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    ref = t["float"].median_s
    rows = []
    for name, spec, impl in plan:
        s = t[name].median_s
        row: dict[str, Any] = {"variant": name, "impl": impl, "set": spec, "device": str(dev),
                               "step_ms": 1e3 * s, "rel_step": s / ref}
        if impl.startswith("qopt") and spec is not None:
            target = SETS[spec][1]
            row["target"] = target
            qp1 = t.get(f"torchao-qp1/{spec}")
            row["vs_torchao_qp1"] = s / qp1.median_s if qp1 else None
            row["met"] = s / ref <= target and (qp1 is None or s < qp1.median_s)
        if name in qo:
            st = qo[name]._buckets.stats
            row["cert_held"] = st.certified / st.searched if st.searched else None
        row["load_1m"] = load
        rows.append(row)
    progress.unit("mlp", rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default=None)
    args = ap.parse_args(argv)
    for r in run(quick=args.quick, device=args.device):
        print(f"{r['variant']:28s} {r['step_ms']:9.2f} ms  x{r['rel_step']:.2f}"
              f"  met={r.get('met')}  cert={r.get('cert_held')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
