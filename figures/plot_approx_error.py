r"""Projection error of the exact projections vs the approximate quantizers, across bit widths.

For weights w (per tensor, one free scale per tensor as in the released codes,
``docs/math/released-protocols.md#quantization-scope``) and
a quantizer returning q, the plotted error is the relative squared error
:math:`\sum_T \|w_T - q_T\|^2 / \sum_T \|w_T\|^2` over the tensors T, recomputed here from q.
Top row: that error against the bit width b; bottom row: its ratio to the **exact** projection
onto the same set (≥ 1 by optimality; 1 = the approximation is exact on these weights). The
exact projections are 1 there by definition: they are the dotted reference line, not two
series drawn on top of each other. Several quantizers reach (almost) the same error at a width
(TWN, Lloyd and the exact ternary projection at b = 2), so the markers of each series are
dodged horizontally by a fixed small offset per series (:data:`DODGE` bits apart): every
series stays visible; the bit widths are the integer ticks.

Sets (two families, :mod:`theory.sets`): with a zero level ``Uniform(b)`` = α{−K..K},
K = 2^{b−1} − 1 (b = 2 is ternary), and without ``Symmetric(b)`` = α{±½, …, ±(2^b − 1)/2}
(b = 1 is binary). Quantizers: the exact ``theory.project`` on both families, and from
:mod:`theory.approximate`: Lloyd alternation (max init, 10 iterations) on ``Uniform(b)``, PARQ's
``UnifQuantizer`` on ``Symmetric(b)``, and the single-width heuristics TWN, the released codes'
``quantize_tnn`` and PARQ's LSBQ on ternary, BCGD's ``quantize_fbit`` on ``Uniform(4)``.

Weights: (a) i.i.d. N(0, 1), n = 10^5, seed 0; (b) the conv/linear weights of a trained network
(:func:`figures.trained_weights.trained_weights`: a study's float run when one exists, else a
tiny CNN trained on the bundled digits in about a second).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from figures.style import (
    METHOD_COLORS,
    FigureResult,
    log_axis_plain,
    new_figure,
    paper_style,
    save_figure,
)
from theory import Symmetric, Uniform, project
from theory import approximate as approx

__all__ = ["DODGE", "QUANTIZERS", "plot_approx_error", "relative_error"]

#: horizontal offset (in bits) between the markers of consecutive series
DODGE = 0.06

Quantizer = Callable[[np.ndarray, int], np.ndarray]


def _q(p: object) -> np.ndarray:
    return np.asarray(p.q, dtype=np.float64)  # type: ignore[attr-defined]


_BR, _PARQ, _BCGD = (METHOD_COLORS[m] for m in ("binaryrelax", "parq", "bcgd"))

#: label -> (family, bit widths it exists for (None = all), b -> q, style). Colours: exact = black;
#: a quantizer from a method's released code takes that method's colour (figures.style); the
#: method-free heuristics (Lloyd, TWN) are grey and told apart by marker.
QUANTIZERS: dict[str, tuple[str, tuple[int, ...] | None, Quantizer, dict]] = {
    "exact, with zero": ("uniform", None, lambda w, b: _q(project(w, Uniform(b))),
                         {"color": "k", "ls": "-", "marker": "o"}),
    "exact, no zero": ("symmetric", None, lambda w, b: _q(project(w, Symmetric(b))),
                       {"color": "k", "ls": "--", "marker": "s", "mfc": "white"}),
    "Lloyd (max init)": ("uniform", None, lambda w, b: _q(approx.lloyd(w, Uniform(b))),
                         {"color": "0.55", "ls": "-", "marker": "^"}),
    "PARQ UnifQuantizer": ("symmetric", None, lambda w, b: _q(approx.parq_uniform(w, b)),
                           {"color": _PARQ, "ls": "--", "marker": "v"}),
    "TWN": ("uniform", (2,), lambda w, b: _q(approx.twn(w)),
            {"color": "0.55", "ls": "", "marker": "D"}),
    "BinaryRelax code: quantize_tnn": ("uniform", (2,),
                                      lambda w, b: _q(approx.binaryrelax_ternary(w)),
                                      {"color": _BR, "ls": "", "marker": "P"}),
    "PARQ LSBQ ternary": ("uniform", (2,), lambda w, b: _q(approx.parq_lsbq_ternary(w)),
                          {"color": _PARQ, "ls": "", "marker": "X"}),
    "BCGD code: quantize_fbit": ("uniform", (4,), lambda w, b: _q(approx.bcgd_fbit(w)),
                                {"color": _BCGD, "ls": "", "marker": "*", "ms": 6}),
}


def relative_error(tensors: Sequence[np.ndarray], quantize: Callable[[np.ndarray], np.ndarray]
                   ) -> float:
    r""":math:`\sum_T\|w_T - q_T\|^2/\sum_T\|w_T\|^2` with ``q_T = quantize(w_T)`` per tensor."""
    num = den = 0.0
    for w in tensors:
        q = quantize(w)
        num += float(np.sum((w - q) ** 2))
        den += float(np.sum(w * w))
    if den <= 0:
        raise ValueError("the weights are all zero: the relative error is undefined")
    return num / den


def _errors(tensors: list[np.ndarray], bits: Sequence[int]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for label, (family, only, fn, _) in QUANTIZERS.items():
        widths = [b for b in bits if (only is None or b in only) and
                  not (family == "uniform" and b < 2)]
        out[label] = {b: relative_error(tensors, lambda w, b=b, fn=fn: fn(w, b)) for b in widths}
    return out


def plot_approx_error(out_dir: str | os.PathLike, *, bits: Sequence[int] = (1, 2, 3, 4, 5, 6),
                      n_gauss: int = 100_000, trained: dict[str, np.ndarray] | None = None,
                      trained_desc: str | None = None, study_dir: str | os.PathLike | None = None,
                      name: str = "approx_error") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Args:
        bits: bit widths (1..16). n_gauss: size of the Gaussian tensor. trained / trained_desc:
            trained weights and their description; default
            :func:`figures.trained_weights.trained_weights` (``study_dir``'s float run if any).

    Returns:
        :class:`FigureResult`; ``data[source][label][b]`` = relative error, ``source`` in
        ``("gaussian", "trained")``, ``data["ratio"][source][label][b]`` = error / exact error of
        the same family, ``data["trained_desc"]``.
    """
    bits = sorted({int(b) for b in bits})
    if not bits or bits[0] < 1 or bits[-1] > 16:
        raise ValueError(f"bits must be a non-empty set of widths in 1..16, got {bits!r}")
    if not isinstance(n_gauss, int) or n_gauss < 10:
        raise ValueError(f"n_gauss must be an integer >= 10, got {n_gauss!r}")
    if trained is None:
        from figures.trained_weights import trained_weights

        trained, trained_desc = trained_weights(study_dir)
    sources = {"gaussian": [np.random.default_rng(0).standard_normal(n_gauss)],
               "trained": [np.asarray(t, dtype=np.float64) for t in trained.values()]}
    data: dict = {"trained_desc": trained_desc or "trained weights", "ratio": {}}
    for src, tensors in sources.items():
        err = _errors(tensors, bits)
        data[src] = err
        exact = {"uniform": err["exact, with zero"], "symmetric": err["exact, no zero"]}
        data["ratio"][src] = {lab: {b: e / exact[QUANTIZERS[lab][0]][b] for b, e in d.items()}
                              for lab, d in err.items()}
    titles = {"gaussian": f"(a) Gaussian weights, n = {n_gauss:,}",
              "trained": f"(b) {data['trained_desc']}"}

    with paper_style():
        fig, axes = new_figure(2, 2, width="page", aspect=0.5, sharex=True)
        n_series = len(QUANTIZERS)
        for col, src in enumerate(sources):
            for i, (label, (_, _, _, style)) in enumerate(QUANTIZERS.items()):
                d, r = data[src][label], data["ratio"][src][label]
                if not d:
                    continue
                b = sorted(d)
                x = np.array(b, dtype=float) + DODGE * (i - (n_series - 1) / 2)
                kw = {"ms": 4, **style}
                axes[0, col].plot(x, [d[k] for k in b], label=label, **kw)
                if not label.startswith("exact"):  # exact / exact = 1: the reference line
                    axes[1, col].plot(x, [r[k] for k in b], label=label, **kw)
            log_axis_plain(axes[0, col])
            axes[0, col].set_title(titles[src], fontsize=7)
            log_axis_plain(axes[1, col])
            axes[1, col].axhline(1.0, color="0.5", lw=0.6, ls=":")
            axes[1, col].set_xlabel("bit width b (b = 2 with zero: ternary)")
            axes[1, col].set_xticks(bits)
        axes[0, 0].set_ylabel(r"$\|w-q\|^2/\|w\|^2$")
        axes[1, 0].set_ylabel("error / exact error\n(exact = 1, dotted)")
        fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right center")
        return save_figure(fig, out_dir, name, data)
