r"""Replay a projection certificate (``qopt.projection.certificate``) from the data alone.

A certificate claims: "the optimal scale of w lies in [lo, hi], because every other interval's
value is bounded below an attainable value; inside, the best state is every key >= kappa; the
scale is s". This module checks each claim independently of qopt's code (numpy and
:mod:`theory` only; the file is a pickle-free ``.npz``, format in
:mod:`qopt.projection.certificate`):

``summary``     the bucket counts are exact and the bucket sums within their rounding bound
                (recomputed from w: buckets :math:`\lfloor |x| 2^{B-e}\rfloor` are exact);
``bounds``      every excluded interval's bound, recomputed here from the verified summary
                (the per-midpoint knapsack bound, derived in :mod:`qopt.projection.bounds`),
                lies below the round's attainable value by the tolerance;
``attainable``  each round's attainable value is that of a valid code vector (recomputed from
                w per entry);
``coverage``    the excluded intervals of the rounds cover (0, lo) and (hi, inf);
``exclusions``  semantic check with the exact sweep (every state of :mod:`theory.sweep`'s
                breakpoint sweep with its range of scales): no state in an excluded interval
                exceeds that interval's bound;
``window``      the exact sweep's optimum lies in [lo, hi] and its value is that of the state
                "every key >= kappa";
``scale``       the scale equals :func:`theory.project`'s (float64: 1e-12 relative; float32:
                its rounding, 2^-23).

:func:`verify_certificate` returns a :class:`proofs_check.report.Report`; the CLI is
``qopt verify certificate FILE``.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from proofs_check.report import FAIL, PASS, Check, Report
from theory.projection import project
from theory.sets import parse_qset
from theory.sweep import sweep_runs

__all__ = ["load_certificate", "verify_certificate"]

_EPS = np.finfo(np.float64).eps


def load_certificate(path: str | os.PathLike) -> dict[str, Any]:
    """Read a certificate file (no pickle). Raises ValueError for anything malformed."""
    from proofs_check.run_files import _open_regular

    try:  # a regular file only: a FIFO or /dev/zero is refused before reading
        with _open_regular(Path(path), 1 << 30) as fh:
            data = fh.read()
    except OSError as exc:
        raise ValueError(f"cannot read certificate {str(path)!r}: {exc.strerror}") from None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(bytes(arrays["meta"]).decode("utf-8"))
        if meta.get("version") != 1:
            raise ValueError(f"unknown certificate version {meta.get('version')!r}")
        c = dict(meta, w=np.asarray(arrays["w"], dtype=np.float64),
                 counts=np.asarray(arrays["counts"]), sums=np.asarray(arrays["sums"]))
        c["rounds"] = [dict(r, a=arrays[f"a{i}"], b=arrays[f"b{i}"], vub=arrays[f"vub{i}"],
                            keep=arrays[f"keep{i}"].astype(bool))
                       for i, r in enumerate(meta["rounds"])]
    except (KeyError, ValueError, TypeError, OSError, json.JSONDecodeError, EOFError) as exc:
        why = ("it holds pickled objects, which are never loaded" if "pickle" in str(exc)
               else exc)
        raise ValueError(f"{str(path)!r} is not a projection certificate: {why}") from None
    if c["w"].ndim != 1 or len(c["counts"]) != 1 << int(c["B"]):
        raise ValueError(f"{str(path)!r}: inconsistent certificate (w must be 1-D, 2^B buckets)")
    return c


def _events(levels: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """z0 and the positive-side events (m_j, g_j, d_j) of a symmetric set."""
    z0, _, runs = sweep_runs(levels)
    side0 = [(m, g, d) for s, m, g, d in runs if s == 0]
    m, g, d = (np.array(v) for v in zip(*side0))
    return z0, m, g, d


def _value(s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    s1p = np.maximum(s1, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s2 > 0, s1p * s1p / np.where(s2 > 0, s2, 1.0), 0.0)


def _bounds(counts: np.ndarray, sums: np.ndarray, h: float, n: int, z0: float, m: np.ndarray,
            g: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bound, V of state D, V of state H) over each interval [a_p, b_p] (u in units of 2^e,
    so values are in units of 4^e): buckets [kh, (k+1)h) definite for midpoint j when
    kh >= b m_j, uncertain when also (k+1)h > a m_j; slopes of uncertain events within the
    uncertain buckets' edges times g_j/d_j; fractional knapsack over the 2E pieces."""
    nb = len(counts)
    CN = np.concatenate([np.cumsum(counts[::-1])[::-1], [0]]).astype(np.float64)
    CS = np.concatenate([np.cumsum(sums[::-1])[::-1], [0.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        kb = np.ceil(np.minimum(b[:, None] * m * (1 + 4 * _EPS) / h, nb + 1.0))
        ka = np.floor(np.minimum(a[:, None] * m * (1 - 4 * _EPS) / h, nb + 1.0))
    kb = np.clip(np.nan_to_num(kb, nan=nb), 0, nb).astype(np.int64)
    ka = np.minimum(np.clip(ka, 0, nb), kb).astype(np.int64)
    s1D = z0 * CS[0] + (CS[kb] * g).sum(1)
    s2D = n * z0 * z0 + (CN[kb] * d).sum(1)
    Xj, Dj = (CS[ka] - CS[kb]) * g, (CN[ka] - CN[kb]) * d
    hi_s, lo_s = kb * h * g / d, ka * h * g / d
    with np.errstate(divide="ignore", invalid="ignore"):
        yk = np.where(hi_s > lo_s, (Xj - lo_s * Dj) / np.where(hi_s > lo_s, hi_s - lo_s, 1), Dj)
    yk = np.clip(np.nan_to_num(yk, nan=0.0, posinf=0.0), 0.0, Dj)
    slope = np.concatenate([hi_s, lo_s], 1)
    length = np.concatenate([yk, Dj - yk], 1)
    o = np.argsort(-slope, 1, kind="stable")
    slope, length = np.take_along_axis(slope, o, 1), np.take_along_axis(length, o, 1)
    Y = np.concatenate([np.zeros((len(a), 1)), np.cumsum(length, 1)], 1)
    F = np.minimum(np.concatenate([np.zeros((len(a), 1)), np.cumsum(slope * length, 1)], 1),
                   Xj.sum(1, keepdims=True))
    vD, vH = _value(s1D, s2D), _value(s1D + Xj.sum(1), s2D + Dj.sum(1))
    vub = np.maximum(_value(s1D[:, None] + F, s2D[:, None] + Y).max(1), np.maximum(vD, vH))
    return vub, vD, vH


def _sweep(u: np.ndarray, z0: float, m: np.ndarray, g: np.ndarray, d: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Every state of the exact breakpoint sweep on u: (key of its last event, value); state p
    holds for scales in (key[p+1], key[p]] (key[0] = inf)."""
    n = len(u)
    key = (u[None, :] / m[:, None]).ravel()
    d1 = (u[None, :] * g[:, None]).ravel()
    d2 = np.repeat(d, n)
    o = np.argsort(-key, kind="stable")
    s1 = z0 * u.sum() + np.concatenate([[0.0], np.cumsum(d1[o])])
    s2 = n * z0 * z0 + np.concatenate([[0.0], np.cumsum(d2[o])])
    return np.concatenate([[np.inf], key[o]]), _value(s1, s2)


def _check(name: str, ok: bool, figure: float, measure: str, detail: str = "") -> Check:
    return Check(name, PASS if ok else FAIL, float(figure), measure, "" if ok else detail)


def verify_certificate(cert: dict[str, Any] | str | os.PathLike) -> Report:
    """Replay every claim of a certificate (module docstring). Raises ValueError when the file
    is not a certificate or names a set without a certified search."""
    c = cert if isinstance(cert, dict) else load_certificate(cert)
    qset = parse_qset(c["qset"])
    if qset.scale is not None or not qset.is_symmetric or qset.n_levels < 3:
        raise ValueError(f"{qset.spec}: no certified search exists for this set")
    w = c["w"]
    x = np.ldexp(w, -int(c["shift"]))
    u = np.abs(x)
    n, B, e, tau = len(u), int(c["B"]), int(c["e"]), float(c["tau"])
    z0, m, g, d = _events(qset.levels)
    checks = []
    # summary: exact buckets and counts; sums within the sequential rounding bound
    top = float(u.max())
    e_true = int(np.frexp(top)[1]) if top > 0 else 0
    k = np.floor(np.ldexp(u, B - e_true)).astype(np.int64)
    cnt = np.bincount(k, minlength=1 << B)
    o = np.argsort(k, kind="stable")
    starts = np.searchsorted(k[o], np.arange(1 << B))
    sums = np.zeros(1 << B)
    ne = cnt > 0
    sums[ne] = np.add.reduceat(u[o], starts[ne])
    err = np.abs(sums - c["sums"]) / np.maximum(sums, 1e-300)
    lim = (cnt + 2 * np.log2(cnt + 2) + 2) * _EPS
    ok = e_true == e and np.array_equal(cnt, c["counts"]) and bool(np.all(err <= lim))
    checks.append(_check("summary", ok, float(np.max(err / lim, initial=0.0)),
                         "worst bucket-sum error / its rounding bound (counts exact)",
                         f"e={e} (true {e_true}); counts equal: "
                         f"{np.array_equal(cnt, c['counts'])}"))
    # bounds and attainable values, per round, from the verified summary (units of 2^e)
    h = 2.0 ** -B
    un = np.ldexp(u, -e)
    cs = sums * 2.0 ** -e
    worst_b, worst_a, bad = 0.0, 0.0, []
    for r, rd in enumerate(c["rounds"]):
        vub, vD, vH = _bounds(cnt, cs, h, n, z0, m, g, d, rd["a"] * 2.0 ** -e,
                              rd["b"] * 2.0 ** -e)
        vlb = float(rd["vlb"])
        ex = ~rd["keep"]
        if ex.any():
            worst_b = max(worst_b, float(np.max(vub[ex] / (vlb * (1 - tau)))))
        att = float(vD[rd["best"]] if rd["best_is_D"] else vH[rd["best"]])
        worst_a = max(worst_a, vlb / att if att > 0 else math.inf)
        if ex.any() and np.max(vub[ex] - vlb * (1 - tau)) >= 0:
            bad.append(r)
    checks.append(_check("bounds", not bad, worst_b,
                         "max over excluded intervals of bound / (attainable (1 - tau)), < 1",
                         f"rounds with an interval that is not excluded by its bound: {bad}"))
    checks.append(_check("attainable", worst_a <= 1 + 1e-9, worst_a,
                         "claimed attainable value / value of the named state, <= 1 + 1e-9",
                         "a round's attainable value is not reached by its state"))
    # coverage of (0, lo) and (hi, inf) by excluded intervals
    iv = sorted((float(a), float(b)) for rd in c["rounds"]
                for a, b, kp in zip(rd["a"], rd["b"], rd["keep"]) if not kp)
    lo, hi = float(c["lo"]), float(c["hi"])
    low_ok, high_ok = _covers_low(iv, lo), _covers(iv, hi)
    checks.append(_check("coverage", low_ok and high_ok, float(len(iv)),
                         "excluded intervals cover (0, lo) and (hi, inf)",
                         f"(0, lo) covered: {low_ok}; (hi, inf) covered: {high_ok}"))
    # semantic checks against the exact sweep
    keys, V = _sweep(un, z0, m, g, d)
    nxt = np.concatenate([keys[1:], [0.0]])  # state p holds for scales (nxt[p], keys[p]]
    worst_x = 0.0
    for rd in c["rounds"]:
        vub, _, _ = _bounds(cnt, cs, h, n, z0, m, g, d, rd["a"] * 2.0 ** -e,
                            rd["b"] * 2.0 ** -e)
        for a, b, kp, vb in zip(rd["a"] * 2.0 ** -e, rd["b"] * 2.0 ** -e, rd["keep"], vub):
            if kp:
                continue
            sel = (keys >= a) & (nxt < b) & (nxt < keys)  # states holding somewhere in [a, b]
            if sel.any():
                worst_x = max(worst_x, float((V[sel].max() - vb) / V.max()))
    checks.append(_check("exclusions", worst_x <= 1e-9, worst_x,
                         "max over excluded intervals of (exact sweep value - bound) / max V",
                         "an excluded interval holds a state above its bound"))
    p = int(np.argmax(V))
    lo_n, hi_n = lo * 2.0 ** -e, hi * 2.0 ** -e
    inside = keys[p] >= lo_n and nxt[p] <= hi_n
    kap = float(c["kappa"]) * 2.0 ** -e
    at_kappa = V[np.searchsorted(-keys, -kap, side="right") - 1]
    rel = abs(at_kappa - V[p]) / V[p] if V[p] > 0 else 0.0
    checks.append(_check("window", bool(inside and rel <= 1e-12), rel,
                         "|V(every key >= kappa) - max V| / max V, <= 1e-12; optimum in window",
                         f"optimum's scales ({nxt[p]:.6g}, {keys[p]:.6g}) x 2^{e}, window "
                         f"[{lo_n:.6g}, {hi_n:.6g}] x 2^{e}"))
    ref = project(w, qset)
    tol = 1e-12 if c["dtype"] == "float64" else 2.0 ** -23
    rel_s = abs(float(c["scale"]) - ref.scale) / ref.scale if ref.scale > 0 else abs(c["scale"])
    checks.append(_check("scale", rel_s <= tol, rel_s,
                         f"|scale - theory.project scale| / scale, <= {tol:g}",
                         f"certificate {c['scale']!r}, theory {ref.scale!r}"))
    ctx = {"set": qset.spec, "n": n, "dtype": c["dtype"], "buckets": f"2^{B}",
           "rounds": len(c["rounds"]), "window": f"[{lo:.6g}, {hi:.6g}]",
           "warm start held": c["held"], "scale": c["scale"]}
    return Report("projection certificate", tuple(checks), ctx)


def _covers_low(iv: list[tuple[float, float]], lo: float) -> bool:
    """(0, lo) is inside the union of the intervals."""
    reach = 0.0
    for a, b in iv:
        if a > reach:
            break
        reach = max(reach, b)
    return lo <= 0 or reach >= lo


def _covers(iv: list[tuple[float, float]], hi: float) -> bool:
    """(hi, inf) is inside the union of the intervals."""
    if hi == math.inf:
        return True
    reach = hi
    for a, b in iv:
        if b <= reach:
            continue
        if a > reach:
            return False
        reach = b
    return reach == math.inf
