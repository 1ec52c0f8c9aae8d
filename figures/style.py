"""The shared paper style of every qopt figure, and the one way figures are written to disk.

* :func:`paper_style` — a context manager with the rcParams of all figures: serif mathtext, 8 pt
  text at one-column width (:data:`COLUMN_WIDTH` = 3.4 in, the common two-column paper column),
  thin lines, light grid, no top/right spines, colour-blind safe colours.
* :func:`new_figure` — a figure of ``ncols`` × ``nrows`` panels at column or page width.
* :func:`save_figure` — checks the layout (:func:`figures.layout.layout_problems`: overlapping
  text, axes with fewer than two labelled ticks, text off the page), writes ``NAME.pdf``
  (vector) and ``NAME.png`` (300 dpi) with the project's atomic writer
  (:mod:`qopt.io`: temp file + fsync + rename) and closes the figure.
* :class:`FigureResult` — what every ``plot_*`` function returns: the two paths, the data it
  plotted (so a test can assert a mathematical property of what is on the page) and the layout
  problems found (empty for a clean figure).
* Colours: :data:`METHOD_COLORS` (one colour per training method, the same in every figure:
  float, BinaryConnect, BinaryRelax, BCGD, UniQ, PARQ, ProxQuant take the seven Okabe–Ito
  colours) and :data:`STE_COLORS` (the three STE proxies take three colour-blind safe colours
  of Paul Tol's "muted" scheme, so an STE is never mistaken for a method); :func:`color_for`
  resolves aliases (``bc``, torchao's ``ProxBinaryRelax`` …) through
  :func:`figures.labels.canonical_method`. :func:`set_linestyle` gives weight sets line styles
  in bit-width order.
* :func:`log_axis_plain` — a log axis whose ticks stay readable at any range
  (:class:`ReadableLogLocator`: decades, else 1-2-5, else evenly spaced values, so that at
  least three ticks are labelled and no more than fit; :class:`PlainLogFormatter`: plain
  numbers within 10⁻³ … 10⁴, powers of ten outside).

Matplotlib always runs on the non-interactive Agg backend here (no display needed).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import Formatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from figures.labels import canonical_method  # noqa: E402

__all__ = [
    "COLUMN_WIDTH",
    "PAGE_WIDTH",
    "PALETTE",
    "METHOD_COLORS",
    "STE_COLORS",
    "FigureResult",
    "PlainLogFormatter",
    "ReadableLogLocator",
    "color_for",
    "log_axis_plain",
    "new_figure",
    "paper_style",
    "save_figure",
    "sequential_colors",
    "set_linestyle",
]

#: Width in inches of one column of a two-column paper (ICLR/NeurIPS/IEEE ≈ 3.25–3.5 in).
COLUMN_WIDTH = 3.4
#: Width in inches of a full page (two columns + gutter).
PAGE_WIDTH = 7.0

#: Okabe–Ito colour-blind safe palette (black first, then 7 hues).
PALETTE: tuple[str, ...] = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2",
                            "#CC79A7", "#F0E442")

#: One colour per training method (canonical names, :mod:`figures.labels`), in every figure.
METHOD_COLORS: dict[str, str] = {
    "float": "#000000",
    "binaryconnect": "#0072B2",
    "binaryrelax": "#D55E00",
    "bcgd": "#009E73",
    "uniq": "#56B4E9",
    "parq": "#CC79A7",
    "proxquant": "#E69F00",
}
#: One colour per STE proxy (Paul Tol's muted indigo, teal, wine: distinct from the methods').
STE_COLORS: dict[str, str] = {"identity": "#332288", "relu": "#44AA99",
                              "clipped_relu": "#882255"}
#: Colours for anything else, in order of appearance: disjoint from the two maps above.
_OTHER: tuple[str, ...] = ("#88CCEE", "#DDCC77", "#117733", "#999933", "#661100", "#6699CC",
                           "#555555", "#999999")
#: Line styles of weight sets in bit-width order (binary, ternary, 2-bit, ...).
_SET_STYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 2)))

_RC: dict[str, Any] = {
    "font.family": "serif",
    "font.serif": ["DejaVu Serif"],
    "mathtext.fontset": "dejavuserif",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 6.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.35,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "errorbar.capsize": 1.5,
    # default colour cycle: NOT the method colours, so an unassigned line never implies a method
    "axes.prop_cycle": matplotlib.cycler(color=list(_OTHER)),
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,  # embed TrueType (editable text, accepted by publishers)
    "figure.constrained_layout.use": True,
}



@dataclass(frozen=True)
class FigureResult:
    """Return value of every ``plot_*`` function.

    Attributes:
        name: the figure's file stem. pdf, png: the written files.
        data: the arrays/values that were plotted (documented by each plot function).
        layout_problems: what :func:`figures.layout.layout_problems` found in the figure as
            written, one line each; empty = no overlapping text, readable ticks, nothing
            clipped.
    """

    name: str
    pdf: Path
    png: Path
    data: dict[str, Any] = field(default_factory=dict)
    layout_problems: tuple[str, ...] = ()


def color_for(key: str, index: int = 0) -> str:
    """The fixed colour of a method (any alias) or STE proxy; for other keys the ``index``-th
    colour of a palette disjoint from the methods' and the STEs'."""
    k = str(key).strip().lower()
    if k in STE_COLORS:
        return STE_COLORS[k]
    if k == "exact":
        return "#000000"
    return METHOD_COLORS.get(canonical_method(k), _OTHER[index % len(_OTHER)])


def sequential_colors(n: int) -> list[Any]:
    """``n`` colours of an ordered quantity (λ values, bit widths): viridis from dark to light
    (stopping before its pale yellow end), disjoint in meaning from the method colours."""
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(0.85 * i / max(1, n - 1)) for i in range(n)]


def set_linestyle(index: int) -> Any:
    """Line style of the ``index``-th weight set in bit-width order."""
    return _SET_STYLES[index % len(_SET_STYLES)]


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Context manager applying the qopt paper rcParams (restored on exit)."""
    with matplotlib.rc_context(_RC):
        yield


def new_figure(ncols: int = 1, nrows: int = 1, *, width: str = "column",
               aspect: float = 0.75, **subplot_kw: Any) -> tuple[Figure, Any]:
    """A figure with an ``nrows`` × ``ncols`` grid of axes (a 2-d array, squeezed=False).

    Args:
        width: ``"column"`` (:data:`COLUMN_WIDTH`) or ``"page"`` (:data:`PAGE_WIDTH`).
        aspect: height of one panel row divided by the width of one panel column.
    """
    if width not in ("column", "page"):
        raise ValueError(f"width must be 'column' or 'page', got {width!r}")
    if not (isinstance(ncols, int) and isinstance(nrows, int) and ncols >= 1 and nrows >= 1):
        raise ValueError(f"ncols and nrows must be integers >= 1, got {ncols!r}, {nrows!r}")
    w = COLUMN_WIDTH if width == "column" else PAGE_WIDTH
    h = w / ncols * aspect * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False, **subplot_kw)
    return fig, axes


class ReadableLogLocator(LogLocator):
    """Log-axis ticks with at least ``min_ticks`` inside the view and no more than fit: decades
    if there are enough, else 1-2-5 per decade, else (a range of about one decade) evenly
    spaced "nice" values from :class:`~matplotlib.ticker.MaxNLocator`. The number that fit is
    the axis' tick space (font size vs axis length), as matplotlib's own locators use."""

    def __init__(self, min_ticks: int = 3) -> None:
        super().__init__()
        self.min_ticks = int(min_ticks)

    def _space(self) -> int:
        axis = getattr(self, "axis", None)
        try:
            return max(self.min_ticks, min(9, int(axis.get_tick_space())))
        except (AttributeError, TypeError, ValueError):
            return 9

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        lo, hi = sorted((float(vmin), float(vmax)))
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= 0:
            return super().tick_values(vmin, vmax)
        lo = max(lo, hi * 1e-300)
        space = self._space()
        for subs in ((1.0,), (1.0, 2.0, 5.0)):
            ticks = LogLocator(subs=subs, numticks=space + 2).tick_values(lo, hi)
            inside = ticks[(ticks >= lo * (1 - 1e-9)) & (ticks <= hi * (1 + 1e-9))]
            if self.min_ticks <= inside.size <= space:
                return ticks
        ticks = np.array([])
        for nbins in range(max(1, min(space, 5) - 1), space + 2):
            ticks = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
            ticks = ticks[ticks > 0]
            inside = ticks[(ticks >= lo * (1 - 1e-9)) & (ticks <= hi * (1 + 1e-9))]
            if inside.size >= self.min_ticks:
                break
        return ticks


class PlainLogFormatter(Formatter):
    """Tick labels for log axes: plain numbers (``0.2``, ``50``) for 10⁻³ ≤ v < 10⁴, else
    ``10⁻⁶`` or ``2×10⁻⁶`` (mathtext)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        if x <= 0 or not math.isfinite(x):
            return f"{x:g}"
        if 1e-3 <= x < 1e4:
            return f"{x:.6g}"
        e = math.floor(math.log10(x) + 1e-9)
        m = x / 10.0**e
        if abs(m - 1.0) < 1e-6:
            return rf"$10^{{{e}}}$"
        return rf"${m:.3g}\times10^{{{e}}}$"


def log_axis_plain(ax: Axes, axis: str = "y") -> None:
    """Log scale on ``axis`` with readable ticks (:class:`ReadableLogLocator`: at least three
    labelled ticks in view) and plain labels (:class:`PlainLogFormatter`)."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    a = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    a.set_major_locator(ReadableLogLocator())
    a.set_major_formatter(PlainLogFormatter())
    a.set_minor_formatter(NullFormatter())


def _render(fig: Figure, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, **kw)
    return buf.getvalue()


def save_figure(fig: Figure, out_dir: str | os.PathLike, name: str,
                data: dict[str, Any] | None = None) -> FigureResult:
    """Check ``fig``'s layout, write ``out_dir/name.pdf`` and ``out_dir/name.png`` (300 dpi)
    atomically and close ``fig``; the problems found are the result's ``layout_problems``."""
    from figures.layout import layout_problems
    from qopt.io import atomic_write_bytes

    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"name must be a plain file stem, got {name!r}")
    out = Path(out_dir)
    pdf, png = out / f"{name}.pdf", out / f"{name}.png"
    try:
        problems = tuple(layout_problems(fig))
        pdf_bytes = _render(fig, "pdf")
        png_bytes = _render(fig, "png", dpi=300)
    finally:
        plt.close(fig)
    atomic_write_bytes(pdf, pdf_bytes)
    atomic_write_bytes(png, png_bytes)
    return FigureResult(name, pdf, png, dict(data or {}), problems)
