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


def write_study(root: Path, with_float: bool = True) -> Path:
    """Write curves.json and runs/<id>/{config.json, metrics.jsonl} like the study runner."""
    curves = {}
    cells = [(m, w, s) for m in METHODS for w in WEIGHTS for s in SEEDS]
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
