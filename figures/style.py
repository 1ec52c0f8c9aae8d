"""The shared paper style of every qopt figure, and the one way figures are written to disk.

* :func:`paper_style` — a context manager with the rcParams of all figures: serif mathtext, 8 pt
  text at one-column width (:data:`COLUMN_WIDTH` = 3.4 in, the common two-column paper column),
  thin lines, light grid, no top/right spines, colour-blind safe palette (Okabe–Ito).
* :func:`new_figure` — a figure of ``ncols`` × ``nrows`` panels at column or page width.
* :func:`save_figure` — writes ``NAME.pdf`` (vector) and ``NAME.png`` (300 dpi) atomically (temp
  file + fsync + rename, :func:`qopt.io.atomic_write`) and closes the figure.
* :class:`FigureResult` — what every ``plot_*`` function returns: the two paths and the data it
  plotted (so a test can assert a mathematical property of what is on the page).

Matplotlib always runs on the non-interactive Agg backend here (no display needed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter  # noqa: E402

__all__ = [
    "COLUMN_WIDTH",
    "PAGE_WIDTH",
    "PALETTE",
    "METHOD_COLORS",
    "FigureResult",
    "color_for",
    "log_axis_plain",
    "new_figure",
    "paper_style",
    "save_figure",
]

#: Width in inches of one column of a two-column paper (ICLR/NeurIPS/IEEE ≈ 3.25–3.5 in).
COLUMN_WIDTH = 3.4
#: Width in inches of a full page (two columns + gutter).
PAGE_WIDTH = 7.0

#: Okabe–Ito colour-blind safe palette (black first, then 7 hues).
PALETTE: tuple[str, ...] = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2",
                            "#CC79A7", "#F0E442")

#: Fixed colours for the training methods and proxies so every figure agrees.
METHOD_COLORS: dict[str, str] = {
    "float": "#000000",
    "binaryconnect": "#0072B2",
    "binaryrelax": "#D55E00",
    "bcgd": "#009E73",
    "identity": "#D55E00",
    "relu": "#0072B2",
    "clipped_relu": "#009E73",
    "exact": "#000000",
}

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
    "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE[1:]) + [PALETTE[0]]),
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
    """

    name: str
    pdf: Path
    png: Path
    data: dict[str, Any] = field(default_factory=dict)


def color_for(key: str, index: int = 0) -> str:
    """The fixed colour of a method/proxy name, else the ``index``-th palette colour."""
    return METHOD_COLORS.get(str(key).lower(), PALETTE[1 + index % (len(PALETTE) - 1)])


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


def log_axis_plain(ax: Axes, axis: str = "y") -> None:
    """Log scale on ``axis`` with plain tick labels at 1, 2, 5 × 10^k (no "2×10⁰" labels)."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    a = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    a.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(FormatStrFormatter("%g"))
    a.set_minor_formatter(NullFormatter())


def _atomic_savefig(fig: Figure, path: Path, **kw: Any) -> None:
    from qopt.io import atomic_write

    atomic_write(path, lambda fh: fig.savefig(fh, format=path.suffix[1:], **kw))


def save_figure(fig: Figure, out_dir: str | os.PathLike, name: str,
                data: dict[str, Any] | None = None) -> FigureResult:
    """Write ``out_dir/name.pdf`` and ``out_dir/name.png`` (300 dpi) atomically; close ``fig``."""
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"name must be a plain file stem, got {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pdf, png = out / f"{name}.pdf", out / f"{name}.png"
    try:
        _atomic_savefig(fig, pdf)
        _atomic_savefig(fig, png, dpi=300)
    finally:
        plt.close(fig)
    return FigureResult(name, pdf, png, dict(data or {}))
