"""Shared helpers of the figure tests: file assertions and a synthetic study directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from figures.style import FigureResult


def assert_written(res: FigureResult) -> None:
    """Both files exist, are non-trivial, and really are a PDF (vector) and a PNG."""
    assert res.pdf.suffix == ".pdf" and res.png.suffix == ".png"
    pdf, png = res.pdf.read_bytes(), res.png.read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 2000, (res.pdf, len(pdf))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000, (res.png, len(png))
    # no temp files left behind by the atomic writer
    assert not [p for p in res.pdf.parent.iterdir() if p.name.endswith(".tmp")]


#: methods × weight sets × seeds of the synthetic study
METHODS = ("binaryconnect", "binaryrelax", "bcgd")
WEIGHTS = ("binary", "ternary")
SEEDS = (0, 1, 2)
EPOCHS = 4
DIAG_STEPS = (10, 20, 30, 40)


def accuracy_of(method: str, weights: str, seed: int, epoch: int) -> float:
    """The synthetic test accuracy: a known closed form so tests can check the plotted mean."""
    base = {"binaryconnect": 0.5, "binaryrelax": 0.6, "bcgd": 0.55, "float": 0.8}[method]
    return base + 0.05 * epoch + 0.01 * (seed - 1) + (0.02 if weights == "ternary" else 0.0)


def write_study(root: Path, with_float: bool = True, weights: tuple[str, ...] = WEIGHTS) -> Path:
    """Write curves.json and runs/<id>/{config.json, metrics.jsonl} like the study runner."""
    curves = {}
    cells = [(m, w, s) for m in METHODS for w in weights for s in SEEDS]
    if with_float:
        cells += [("float", None, s) for s in SEEDS]
    for method, weights, seed in cells:
        rid = f"{method}-{weights}-s{seed}"
        keys = {"method": method, "weights": weights, "seed": seed}
        acc = [accuracy_of(method, weights or "binary", seed, e) for e in range(EPOCHS)]
        loss = [float(np.exp(-0.3 * e) * (1 + 0.1 * seed)) for e in range(EPOCHS)]
        curves[rid] = {"keys": keys, "epoch": list(range(EPOCHS)),
                       "step": [10 * (e + 1) for e in range(EPOCHS)], "test_acc": acc,
                       "train_loss": loss, "test_loss": loss, "train_acc": acc,
                       "lr": [0.1] * EPOCHS}
        run = root / "runs" / rid
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps(keys))
        lines = []
        for k, step in enumerate(DIAG_STEPS):
            lines.append({"type": "train", "step": step, "epoch": k, "loss": 1.0})
            if method == "float":
                continue
            rec = {"type": "diag", "step": step, "epoch": k, "phase": 1 if k < 3 else 2,
                   "conv1/flip_frac": None if k == 0 else 0.1 / (k + seed),
                   "conv2/flip_frac": None if k == 0 else 0.3 / (k + seed), "conv1/dist2": 1.0}
            if method == "binaryrelax":
                rec["lam"] = 1.3 ** (k + 1)
            lines.append(rec)
        (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines)
                                           + '{"type": "diag", "ste')  # torn last line
    (root / "curves.json").write_text(json.dumps(curves))
    return root


#: the "paper-sized" synthetic study: every method the figures know, four weight sets (given
#: in a scrambled order: the figures must order them by bit width), 3 seeds, 20 epochs
RICH_METHODS = ("proxquant", "bcgd", "binaryconnect", "parq", "binaryrelax")
RICH_WEIGHTS = ("ternary", "symmetric:4", "binary", "symmetric:2")
RICH_EPOCHS = 20


def write_rich_study(root: Path, seed: int = 0) -> Path:
    """A study shaped like the real quick study at full size, with the awkward features of real
    data: training losses that approach 0 with a seed spread larger than their mean (a linear
    mean ± std band crosses zero), code-flip fractions that hit exactly 0 in phase II, a NaN
    accuracy, and long set names."""
    rng = np.random.default_rng(seed)
    curves = {}
    cells = [(m, w, s) for m in RICH_METHODS for w in RICH_WEIGHTS for s in SEEDS]
    cells += [("float", None, s) for s in SEEDS]
    for method, weights, s in cells:
        rid = f"{method}_{(weights or 'none').replace(':', '')}_seed{s}"
        keys = {"method": method, "weights": weights, "seed": s}
        ep = np.arange(RICH_EPOCHS)
        acc = np.clip(0.9 - 0.5 * np.exp(-ep / 4) - 0.05 * rng.random() + 0.01 *
                      rng.standard_normal(RICH_EPOCHS), 0, 1)
        loss = 2.3 * np.exp(-ep / 2.5) * np.exp(1.5 * rng.standard_normal(RICH_EPOCHS)) + 1e-4
        acc_l = [float(a) for a in acc]
        if method == "bcgd" and s == 1:
            acc_l[3] = float("nan")
        curves[rid] = {"keys": keys, "epoch": ep.tolist(), "step": (50 * (ep + 1)).tolist(),
                       "test_acc": acc_l, "train_loss": loss.tolist(), "test_loss": loss.tolist(),
                       "train_acc": acc_l, "lr": [0.1] * RICH_EPOCHS}
        run = root / "runs" / rid
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps(keys))
        lines = []
        for k in range(RICH_EPOCHS):
            step = 50 * (k + 1)
            lines.append({"type": "train", "step": step, "epoch": k, "loss": float(loss[k])})
            if method == "float":
                continue
            phase = 2 if k >= 15 else 1
            flip = None if k == 0 else (0.0 if phase == 2 else 0.2 * np.exp(-k / 3)
                                        * (1 + 0.3 * rng.random()))
            rec = {"type": "diag", "step": step, "epoch": k, "phase": phase,
                   "conv1/flip_frac": flip, "conv2/flip_frac": flip, "conv1/dist2": 1.0}
            if method == "binaryrelax":
                rec["lam"] = 1.3 ** k
            lines.append(rec)
        (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (root / "curves.json").write_text(json.dumps(curves))
    return root


def rich_bench() -> dict:
    """Benchmark results in the format ``qopt bench`` writes (``{kind: results}``), CPU and CUDA,
    with every method of the optimizer-step section including torchao's."""
    def machine(kind: str) -> dict:
        m = {"date_utc": "2026-11-23 01:08 UTC", "host_cpu": "Intel(R) Xeon(R) Processor",
             "cpu_count": 2, "torch": "2.13.0", "cuda": kind == "cuda", "git_commit": "abc1234"}
        if kind == "cuda":
            m["gpu"] = "NVIDIA H200"
        return m

    out = {}
    for kind, speed in (("cpu", 1.0), ("cuda", 0.05)):
        proj = [{"set": s, "n": n, "seconds": speed * 1e-8 * n * k,
                 "floor_seconds": speed * 1e-8 * n, "ratio": float(k) * (1 + 1e4 / n),
                 "floor": fl}
                for s, k, fl in (("binary", 1.5, "np.abs"), ("ternary", 3.0, "np.sort"),
                                 ("uniform:4", 8.0, "np.sort"), ("symmetric:2", 4.0, "np.sort"))
                for n in (10_000, 100_000, 1_000_000, 10_000_000)]
        opt = []
        for model in ("mlp", "resnet20"):
            opt.append({"model": model, "variant": "bare", "impl": "torch", "method": "SGD",
                        "ratio": 1.0})
            for meth in ("BinaryConnect", "BinaryRelax", "BCGD", "PARQ", "ProxQuant"):
                for st, r in (("binary", 2.0), ("ternary", 12.0), ("uniform:4", 120.0)):
                    opt.append({"model": model, "variant": f"qopt/{meth}/{st}", "impl": "qopt",
                                "method": meth, "set": st, "ratio": r * (1.1 if meth == "BCGD"
                                                                          else 1.0)})
            for meth in ("ProxHardQuant", "ProxBinaryRelax", "ProxPARQ"):
                for b in (1, 2, 4):
                    opt.append({"model": model, "variant": f"torchao/{meth}/{b}bit",
                                "impl": "torchao", "method": meth, "bits": b,
                                "set": f"unif:{b}", "ratio": 5.0 + 2 * b})
        out[kind] = {"machine": machine(kind), "quick": False, "device_kind": kind,
                     "sections": {"projection": {"rows": proj, "wall_s": 100.0,
                                                 "date_utc": "2026-11-23 01:08 UTC"},
                                  "optimizer_step": {"rows": opt, "wall_s": 200.0,
                                                     "date_utc": "2026-11-23 01:20 UTC"}}}
    return out


def data_lines(ax, min_points: int = 1) -> list:
    """The visible Line2D series of ``ax`` with at least ``min_points`` points."""
    return [ln for ln in ax.get_lines()
            if ln.get_visible() and len(ln.get_xdata()) >= min_points]


def _has_markers(line) -> bool:
    return line.get_marker() not in (None, "", "None", " ", "none")


def _has_path(line) -> bool:
    return line.get_linestyle() not in ("None", "", " ", "none")


def _drawn_points(line, what: str) -> np.ndarray:
    """Display coordinates of what ``line`` draws: ``what="markers"`` its marker positions
    (``markevery`` applied), ``"path"`` its vertices densified to about one point per pixel."""
    xy = line.get_xydata()
    if what == "markers":
        every = line.get_markevery()
        if isinstance(every, tuple):
            xy = xy[int(every[0])::int(every[1])]
        elif isinstance(every, int):
            xy = xy[::every]
    xy = xy[np.all(np.isfinite(xy), axis=1)]
    if xy.size == 0:
        return np.zeros((0, 2))
    pix = line.get_transform().transform(xy)
    pix = pix[np.all(np.isfinite(pix), axis=1)]
    if what == "markers" or len(pix) < 2:
        return pix
    out = [pix[:1]]
    for a, b in zip(pix[:-1], pix[1:]):
        n = max(1, int(np.ceil(np.hypot(*(b - a)))))
        t = np.linspace(0, 1, n + 1)[1:, None]
        out.append(a + t * (b - a))
    return np.concatenate(out)


def hidden_series(fig, tol_px: float = 1.5) -> list[str]:
    """Series that are invisible on the page. A series with markers is hidden when each of its
    markers lies within ``tol_px`` pixels of a marker of one series drawn above it; a series
    drawn as a line only, when every point of its path lies within ``tol_px`` of the path of
    one *solid* series drawn above it (under a dashed or dotted line a coinciding series shows
    through the gaps, the usual way to draw two equal curves). Series of one point (a marked
    start shared by several trajectories) and error-bar caps are not checked. Returns one
    line per hidden series, naming both."""
    fig.canvas.draw()
    out = []
    for ax in fig.axes:
        lines = [ln for ln in data_lines(ax, min_points=2) if ln.get_marker() not in ("_", "|")]
        order = sorted(range(len(lines)), key=lambda i: (lines[i].get_zorder(), i))
        rank = {id(lines[i]): r for r, i in enumerate(order)}
        for ln in lines:
            what = "markers" if _has_markers(ln) else "path"
            p = _drawn_points(ln, what)
            if len(p) == 0:
                continue
            for other in lines:
                if other is ln or rank[id(other)] < rank[id(ln)]:
                    continue
                if what == "markers" and not _has_markers(other):
                    continue
                if what == "path" and other.get_linestyle() not in ("-", "solid"):
                    continue
                q = _drawn_points(other, what)
                if len(q) == 0:
                    continue
                d = np.sqrt(((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)).min(axis=1)
                if (d <= tol_px).all():
                    out.append(f"{ax.get_title()!r}: {ln.get_label()!r} hidden by "
                               f"{other.get_label()!r}")
                    break
    return out
