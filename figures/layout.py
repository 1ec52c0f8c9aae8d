r"""Layout checks of a drawn figure: overlapping text, unreadable ticks, text off the page.

A figure "ready for a paper" has no two pieces of text on top of each other, every numeric axis
carries at least two labelled ticks (one tick gives no scale), and no text is cut by the figure
edge. These are checked on the rendered geometry (matplotlib window extents after a draw), so
they hold for what is actually on the page:

* **text boxes** — every visible, non-empty text of the figure: axes titles (left, centre,
  right), axis labels, the tick labels *that are drawn* (ticks inside the view interval),
  offset texts (``×10³``), free texts and annotations, colour-bar labels, the figure's
  suptitle / supxlabel / supylabel, and each legend as one box (its entries are laid out by the
  legend itself). Two boxes **overlap** when their intersection is more than ``tol_px``
  pixels wide *and* high.
* **ticks** — every visible axis that draws tick labels draws at least ``min_ticks`` of them;
  an axis that draws none must share its scale with one that does (``sharex``/``sharey``,
  whose inner labels matplotlib hides on purpose). Axes with fixed categorical labels
  (``set_yticks(pos, labels)`` with one bar) are exempt from the count, not from the overlap
  test.
* **page** — no text box reaches more than ``tol_px`` beyond the figure's bounding box.

:func:`layout_problems` returns the problems as readable one-line strings (empty = clean);
:func:`figures.style.save_figure` runs it on every figure it writes and stores the result in
:attr:`figures.style.FigureResult.layout_problems`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import FixedFormatter, NullLocator
from matplotlib.transforms import Bbox

__all__ = ["TextBox", "layout_problems", "overlaps", "page_problems", "text_boxes",
           "tick_problems"]


@dataclass(frozen=True)
class TextBox:
    """One piece of text on the page: ``what`` it is (for messages), its ``text`` and its
    ``bbox`` in display pixels."""

    what: str
    text: str
    bbox: Bbox


def _renderer(fig: Figure):  # noqa: ANN202 - backend-specific renderer type
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _shown(t: Text) -> bool:
    return bool(t.get_visible() and t.get_text().strip())


def _axes_name(fig: Figure, ax: Axes) -> str:
    title = next((t.get_text() for t in (ax.title, ax._left_title, ax._right_title)
                  if t.get_text().strip()), "")
    idx = fig.axes.index(ax)
    return f"axes {idx} ({title!r})" if title else f"axes {idx}"


def drawn_tick_labels(axis: Axis, minor: bool = False) -> list[Text]:
    """The tick labels ``axis`` draws: ticks inside the view interval, visible, non-empty."""
    if isinstance(axis.get_minor_locator() if minor else axis.get_major_locator(), NullLocator):
        return []
    locs = axis.get_minorticklocs() if minor else axis.get_majorticklocs()
    # refresh label texts/positions exactly as a draw does (public API)
    _ = axis.get_minorticklabels() if minor else axis.get_majorticklabels()
    ticks = axis.get_minor_ticks(len(locs)) if minor else axis.get_major_ticks(len(locs))
    lo, hi = sorted(axis.get_view_interval())
    tr = axis.get_transform()
    plo, phi = sorted(tr.transform(np.array([lo, hi], dtype=float)))
    out = []
    for tick in ticks:
        p = tr.transform(np.array([tick.get_loc()], dtype=float))[0]
        if not (np.isfinite(p) and plo - 1e-6 * max(1.0, abs(plo)) <= p
                <= phi + 1e-6 * max(1.0, abs(phi))):
            continue
        out += [lab for lab in (tick.label1, tick.label2) if _shown(lab)]
    return out


def text_boxes(fig: Figure, renderer=None) -> list[TextBox]:  # noqa: ANN001
    """Every text of ``fig`` that is drawn, as :class:`TextBox` (module docstring)."""
    renderer = renderer or _renderer(fig)
    boxes: list[TextBox] = []
    seen: set[int] = set()  # the suptitle is also in fig.texts: count every artist once

    def add(what: str, t: Text) -> None:
        if id(t) not in seen and _shown(t):
            seen.add(id(t))
            bb = t.get_window_extent(renderer)
            if bb.width > 0 and bb.height > 0 and np.all(np.isfinite(bb.extents)):
                boxes.append(TextBox(what, t.get_text(), bb))

    def add_legend(what: str, leg: Legend | None) -> None:
        if leg is not None and leg.get_visible():
            bb = leg.get_window_extent(renderer)
            if bb.width > 0 and bb.height > 0:
                text = ", ".join(t.get_text() for t in leg.get_texts())[:60]
                boxes.append(TextBox(what, text, bb))

    for ax in fig.axes:
        if not ax.get_visible():
            continue
        name = _axes_name(fig, ax)
        for loc, t in (("title", ax.title), ("left title", ax._left_title),
                       ("right title", ax._right_title)):
            add(f"{name} {loc}", t)
        for axis in (ax.xaxis, ax.yaxis) if ax.axison else ():  # set_axis_off: none drawn
            if not axis.get_visible():
                continue
            xy = axis.axis_name
            add(f"{name} {xy}-label", axis.label)
            add(f"{name} {xy} offset text", axis.offsetText)
            for minor in (False, True):
                for t in drawn_tick_labels(axis, minor):
                    add(f"{name} {xy}-tick label", t)
        for t in ax.texts:
            add(f"{name} text", t)
        add_legend(f"{name} legend", ax.get_legend())
    for attr in ("_suptitle", "_supxlabel", "_supylabel"):
        t = getattr(fig, attr, None)
        if t is not None:
            add(f"figure {attr.strip('_')}", t)
    for t in fig.texts:
        add("figure text", t)
    for leg in fig.legends:
        add_legend("figure legend", leg)
    return boxes


def _overlap(a: Bbox, b: Bbox) -> tuple[float, float]:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w, h


def overlaps(boxes: list[TextBox], tol_px: float = 0.5) -> list[str]:
    """Pairs of boxes whose intersection exceeds ``tol_px`` in both width and height."""
    if len(boxes) < 2:
        return []
    ext = np.array([b.bbox.extents for b in boxes])  # x0, y0, x1, y1
    w = np.minimum(ext[:, None, 2], ext[None, :, 2]) - np.maximum(ext[:, None, 0],
                                                                    ext[None, :, 0])
    h = np.minimum(ext[:, None, 3], ext[None, :, 3]) - np.maximum(ext[:, None, 1],
                                                                    ext[None, :, 1])
    hit = (w > tol_px) & (h > tol_px)
    out = []
    for i, j in zip(*np.nonzero(np.triu(hit, k=1))):
        a, b = boxes[i], boxes[j]
        out.append(f"overlap: {a.what} {a.text!r} and {b.what} {b.text!r} "
                   f"({w[i, j]:.1f} x {h[i, j]:.1f} px)")
    return out


def page_problems(fig: Figure, boxes: list[TextBox], tol_px: float = 0.5) -> list[str]:
    """Text boxes that reach beyond the figure edge by more than ``tol_px``."""
    page = fig.bbox
    out = []
    for b in boxes:
        e = b.bbox
        beyond = max(page.x0 - e.x0, e.x1 - page.x1, page.y0 - e.y0, e.y1 - page.y1)
        if beyond > tol_px:
            out.append(f"clipped: {b.what} {b.text!r} reaches {beyond:.1f} px beyond the "
                       "figure edge")
    return out


def _shares_with_labelled(ax: Axes, axis_name: str, min_ticks: int) -> bool:
    group = ax.get_shared_x_axes() if axis_name == "x" else ax.get_shared_y_axes()
    for other in group.get_siblings(ax):
        if other is ax or not other.get_visible():
            continue
        axis = other.xaxis if axis_name == "x" else other.yaxis
        if len(drawn_tick_labels(axis)) >= min_ticks:
            return True
    return False


def tick_problems(fig: Figure, min_ticks: int = 2) -> list[str]:
    """Axes whose visible axis draws fewer than ``min_ticks`` labelled (major) ticks."""
    _renderer(fig)
    out = []
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        name = _axes_name(fig, ax)
        cbar = getattr(ax, "_colorbar", None)  # a colour bar's short side carries no scale
        axes_ = (ax.xaxis, ax.yaxis) if cbar is None else \
            ((ax.yaxis,) if getattr(cbar, "orientation", "vertical") == "vertical"
             else (ax.xaxis,))
        for axis in axes_:
            if not axis.get_visible():
                continue
            labels = drawn_tick_labels(axis)
            n = len(labels)
            if n >= min_ticks or isinstance(axis.get_major_formatter(), FixedFormatter):
                continue
            if n == 0 and isinstance(axis.get_major_locator(), NullLocator):
                continue  # ticks switched off on purpose (e.g. an image panel)
            if n == 0 and _shares_with_labelled(ax, axis.axis_name, min_ticks):
                continue
            shown = ", ".join(repr(t.get_text()) for t in labels) or "none"
            out.append(f"ticks: {name} {axis.axis_name}-axis has {n} labelled tick(s) "
                       f"({shown}); at least {min_ticks} are needed to read the scale")
    return out


def layout_problems(fig: Figure, *, tol_px: float = 0.5, min_ticks: int = 2) -> list[str]:
    """All problems of :mod:`figures.layout` in ``fig`` (empty list = clean). Draws ``fig``."""
    renderer = _renderer(fig)
    boxes = text_boxes(fig, renderer)
    return [*overlaps(boxes, tol_px), *page_problems(fig, boxes, tol_px),
            *tick_problems(fig, min_ticks)]
