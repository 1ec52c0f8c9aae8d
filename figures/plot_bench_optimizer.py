r"""Benchmark: optimizer-step overhead of each quantized method vs the bare optimizer.

Reads the JSON that ``qopt bench`` writes (section ``optimizer_step``, rows from
``benchmarks/optimizer_step.py``: ``model``, ``variant``, ``impl``, ``ratio`` = step time / bare
base-optimizer step time, same run). One panel per model; one horizontal bar per variant
(qopt's BinaryConnect / BinaryRelax / BCGD per set, torchao's PARQ QuantOptimizer when it was
installed), log scale, the line at 1 = no overhead. Bars are coloured by the method they
implement, with the method colours of every other figure (:mod:`figures.style`; torchao's
``ProxHardQuant`` / ``ProxBinaryRelax`` / ``ProxPARQ`` take the colour of BinaryConnect /
BinaryRelax / PARQ, whose update they implement; a variant that is not a method, such as
the bare projection loops, takes one colour of its own, the same in its bars and its legend
swatch) and torchao's bars (``impl`` ``torchao`` or ``torchao-*``) are hatched; bars are
ordered by method, then bit width, then implementation, so qopt's and torchao's version of a
method sit next to each other. Where the rows were measured with different ``quant_period``
values (torchao's default 10, and 1 = a projection every step, like qopt), every bar that has
one names it ("· quant_period 1"), so no two bars carry the same label.
With results from several device kinds, each kind gets its own row of panels. The header says
where and when each kind was measured
(:func:`figures.bench_data.machine_caption`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from matplotlib.patches import Patch

from figures.bench_data import machine_caption
from figures.labels import (
    canonical_method,
    device_label,
    method_label,
    method_sort_key,
    model_label,
    set_label,
    set_sort_key,
)
from figures.style import (
    METHOD_COLORS,
    FigureResult,
    color_for,
    log_axis_plain,
    new_figure,
    paper_style,
    save_figure,
)

__all__ = ["bar_label", "optimizer_overheads", "plot_bench_optimizer"]

_IMPL_ORDER = ("qopt", "torchao")


def _variant_parts(variant: str, impl: str) -> tuple[str, str]:
    """(method, set) from a variant name ``impl/method/set`` (or ``method/set``)."""
    parts = [p for p in str(variant).split("/") if p]
    if parts and parts[0] == impl:
        parts = parts[1:]
    method = parts[0] if parts else str(variant)
    qset = parts[1] if len(parts) > 1 else ""
    if qset.endswith("bit") and qset[:-3].isdigit():
        qset = f"symmetric:{qset[:-3]}"
    return method, qset


def _impl_family(impl: str) -> str:
    return "torchao" if str(impl).startswith("torchao") else str(impl)


def bar_label(variant: str, impl: str, quant_period: Any = None) -> tuple[str, tuple]:
    """(display label, sort key) of one bar: "BinaryRelax · symmetric:2", "ProxPARQ (torchao)
    · symmetric:4 · quant_period 1"; sorted by method, bit width, implementation, period."""
    method, qset = _variant_parts(variant, impl)
    text = method_label(method) + (f" · {set_label(qset)}" if qset else "")
    if quant_period is not None:
        text += f" · quant_period {quant_period}"
    fam = _impl_family(impl)
    key = (method_sort_key(canonical_method(method)), set_sort_key(qset or None),
           _IMPL_ORDER.index(fam) if fam in _IMPL_ORDER else len(_IMPL_ORDER),
           -(quant_period or 0), text)
    return text, key


def optimizer_overheads(rows: list[dict[str, Any]]
                        ) -> dict[str, list[tuple[str, str, float, int | None]]]:
    """model -> [(variant, impl, ratio, quant_period)] for rows with a finite ratio, bare
    optimizer excluded; quant_period is None unless the rows hold several periods."""
    out: dict[str, list[tuple[str, str, float, int | None]]] = {}
    periods = {r.get("quant_period") for r in rows if r.get("quant_period") is not None}
    for r in rows:
        ratio = r.get("ratio")
        if r.get("variant") == "bare" or not isinstance(ratio, (int, float)) \
                or not np.isfinite(ratio):
            continue
        qp = r.get("quant_period") if len(periods) > 1 else None
        out.setdefault(str(r.get("model", "model")), []).append(
            (str(r.get("variant")), str(r.get("impl", "")), float(ratio), qp))
    return out


def _colours(methods: list[str]) -> dict[str, str]:
    """Bar colour per method name: the method colours; names that are no method (projection
    loops) one colour each from the palette for everything else, by sorted name — the same
    for a bar and its legend swatch."""
    others = sorted({m for m in methods if canonical_method(m) not in METHOD_COLORS})
    return {m: color_for(m, others.index(m) if m in others else 0) for m in methods}


def plot_bench_optimizer(out_dir: str | os.PathLike, bench: dict[str, Any], *,
                         name: str = "bench_optimizer_step") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Returns:
        :class:`FigureResult`; ``data[kind] = optimizer_overheads(rows)``.
    """
    data = {}
    for kind, res in bench.items():
        rows = res.get("sections", {}).get("optimizer_step", {}).get("rows") or []
        ov = optimizer_overheads(rows)
        if ov:
            data[kind] = ov
    if not data:
        raise ValueError("the benchmark results hold no optimizer_step rows with a ratio")
    models = sorted({m for ov in data.values() for m in ov})
    bars = {(kind, model): sorted(((*bar_label(v, impl, qp), v, impl, r)
                                   for v, impl, r, qp in ov.get(model, [])),
                                  key=lambda b: b[1])
            for kind, ov in data.items() for model in models}
    names = sorted({_variant_parts(v, impl)[0] for ov in data.values() for vv in ov.values()
                    for v, impl, *_ in vv})
    colour = _colours(names)
    n_bars = max(len(b) for b in bars.values())
    same = len({tuple(b[0] for b in bb) for bb in bars.values()}) == 1
    with paper_style():
        fig, axes = new_figure(len(models), len(data), width="page",
                               aspect=(0.11 * n_bars + 0.9) / (7.0 / len(models)),
                               sharey=same, sharex=True)
        for i, kind in enumerate(data):
            for j, model in enumerate(models):
                ax = axes[i, j]
                bb = bars[(kind, model)]
                y = np.arange(len(bb))
                colors = [colour[_variant_parts(v, impl)[0]] for _, _, v, impl, _ in bb]
                hatches = ["////" if _impl_family(impl) == "torchao" else ""
                           for *_, impl, _ in bb]
                ax.barh(y, [b[4] for b in bb], color=colors, hatch=hatches, height=0.7,
                        edgecolor="white", linewidth=0.0)
                if j == 0 or not same:
                    ax.set_yticks(y, [b[0] for b in bb], fontsize=5.5)
                ax.set_ylim(len(bb) - 0.5, -0.5)
                log_axis_plain(ax, "x")
                ax.axvline(1.0, color="0.3", lw=0.7, ls=":")
                if i == len(data) - 1:
                    ax.set_xlabel("step time / bare optimizer step")
                ax.set_title(f"{model_label(model)}, {device_label(kind)}")
                ax.grid(axis="y", visible=False)
        # one swatch per colour drawn (torchao's maps share their method's colour and entry)
        swatch: dict[str, str] = {}
        for m in sorted(names, key=method_sort_key):
            c = canonical_method(m)
            label = method_label(c if c in METHOD_COLORS else m)
            swatch.setdefault(colour[m], label)
        handles = [Patch(color=c, label=lab) for c, lab in swatch.items()]
        if any(_impl_family(impl) == "torchao" for ov in data.values() for vv in ov.values()
               for _, impl, *_ in vv):
            handles.append(Patch(facecolor="0.6", hatch="////", edgecolor="white",
                                 label="torchao (hatched)"))
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 7))
        fig.suptitle(machine_caption(bench, list(data), "optimizer_step"), fontsize=6,
                     color="0.3")
        return save_figure(fig, out_dir, name, data)
