r"""``verify run`` section (a): implementation invariants. A failure here is a bug (or a
tampered run directory): ``verify run`` exits 1.

=====================  =====================================================================
check                  statement
=====================  =====================================================================
records                ``result.json`` repeats the ``eval`` / ``final`` records exactly; the
                       ``diag`` and ``probe`` records of a step agree on λ, ρ, phase, lr
schedule               λ, ρ, phase and lr at every record equal the configured schedules,
                       recomputed from ``config.json`` (:mod:`proofs_check.run_schedules`)
forward_point          at every probe record and sampled entry: the logged level z is a
                       nearest level of w/α, and the point the model holds is
                       :math:`P(w) = \alpha z` (BinaryConnect, BCGD, BinaryRelax Phase II) or
                       the prox :math:`(w + \lambda\alpha z)/(1+\lambda)` (Phase I)
orthogonality          :math:`|\langle r, p\rangle| / (\|r\|\|p\|) \le \tau` at every diag record
                       (sets with a free scale: exact projections onto a cone have
                       :math:`\langle w - P(w), P(w)\rangle = 0`)
final_membership       every quantized tensor of ``model.pt`` equals, bit for bit,
                       :math:`\alpha\cdot` level[code] of ``quantized.pt`` (so it lies in Q)
final_projection       and it is an exact projection of the final latent weights
                       (``latent.pt``): :math:`\|w - W\|^2 \le \operatorname{dist}(w,Q)^2 +
                       \tau_d`, dist computed by :func:`theory.project` in float64
=====================  =====================================================================

**Tolerances (derived here).** u = unit roundoff of the parameter dtype (:math:`2^{-24}` for
float32); :math:`\gamma_m = mu/(1-mu)`, :math:`m = \lceil\log_2 n\rceil + 1`, bounds the relative
error of a pairwise (cascade/tree) sum of n terms (Higham 2002, §4.2) — how torch reduces on CPU
and CUDA. The engine computes a scale :math:`\alpha = \langle w,z\rangle/\langle z,z\rangle` (or
:math:`\|w\|_1/n`) with two such sums of non-negative terms, so two implementations of the same
scale differ by at most :math:`\delta_\alpha = 2(2\gamma_m + u)` relative.

* forward point, P(w): :math:`|u_j - \alpha_j z_j| \le (u + \delta_\alpha)|\alpha_j z_j|` (one
  rounding of the product, and the scale computed by another code path);
* forward point, prox: the engine forms :math:`\mathrm{fl}(\mathrm{fl}(\mathrm{fl}(\lambda p)+w)
  /(1+\lambda))`: three roundings, plus the rounding of :math:`1+\lambda`, each at most u
  relative to :math:`\lambda|p|+|w|`, and p's own error: :math:`|u_j - (w_j+\lambda\alpha_j z_j)/
  (1+\lambda)| \le [\lambda|\alpha_j z_j|(u+\delta_\alpha) + 4u(\lambda|\alpha_j z_j|+|w_j|)]/
  (1+\lambda)`;
* nearest level: distances within :math:`4u(|w_j| + \alpha_j\max|z|)` of the best are ties;
* orthogonality: the logged P is :math:`P^* + \delta` with :math:`\|\delta\| \le (u +
  2\gamma_m)\|P^*\|`, and :math:`\langle r^*, P^*\rangle = 0`, so
  :math:`|\langle r, p\rangle|/(\|r\|\|p\|) \le (u+2\gamma_m)(1 + \|p\|/\|r\|)` to first order;
  we allow
  :math:`\tau = 4(u+2\gamma_m)(1+\|p\|/\|r\|)` (the second term is why a near-quantized float32
  tensor shows 1e-4: round-off, not a bug);
* final projection: a scale error :math:`\delta\alpha` raises the squared distance by
  :math:`\|z\|^2\delta\alpha^2`, the final rounding by at most :math:`2u\|q\|\|r\| + u^2\|q\|^2`,
  and a near-tie between candidate scales decided in the compute dtype by at most
  :math:`4\gamma_m(\|w\|^2+\|q\|^2)`: :math:`\tau_d = 4\gamma_m(\|w\|^2+\|q\|^2) + 2u\|q\|\|r\| +
  ((2\gamma_m+2u)\|q\|)^2`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from proofs_check.report import FAIL, PASS, SKIP, Check
from proofs_check.run_files import RunFiles, as_f64, gamma, unit_roundoff
from proofs_check.run_schedules import (
    bcgd_rho,
    binaryrelax_state,
    expected_lr,
    rel_tol,
)
from theory.sets import parse_qset

SECTION = "invariants"
SHOW = 4
EVAL_KEYS = ("epoch", "step", "test_acc", "test_loss", "train_acc", "train_loss")


def _check(name: str, problems: list[str], n: int, measure: str, worst: float = math.nan,
           skip: str | None = None) -> Check:
    if skip is not None:
        return Check(name, SKIP, math.nan, measure, skip, section=SECTION)
    if problems:
        more = f" and {len(problems) - SHOW} more" if len(problems) > SHOW else ""
        return Check(name, FAIL, worst, measure,
                     f"{len(problems)} of {n} fail: {'; '.join(problems[:SHOW])}{more}",
                     section=SECTION, extra={"n_failed": len(problems), "n_checked": n})
    return Check(name, PASS, worst, measure, f"{n} checked", section=SECTION,
                 extra={"n_checked": n})


def check_records(run: RunFiles) -> Check:
    """``records``: result.json vs the eval/final records; diag vs probe records."""
    problems, n = [], 0
    res = run.result
    if res is not None:
        evals = run.of("eval")
        hist = res.get("history", [])
        n += 1
        if len(hist) != len(evals):
            problems.append(f"result.json has {len(hist)} epochs, metrics.jsonl {len(evals)} "
                            "eval records")
        for h, e in zip(hist, evals):
            n += 1
            bad = [k for k in EVAL_KEYS if k in h and h.get(k) != e.get(k)]
            if bad:
                problems.append(f"epoch {h.get('epoch')}: {', '.join(bad)} differ between "
                                "result.json and metrics.jsonl")
        fin = run.of("final")
        if fin and isinstance(res.get("final"), dict):
            n += 1
            bad = [k for k in ("test_acc", "test_loss") if res["final"].get(k) != fin[-1].get(k)]
            if bad:
                problems.append(f"final {', '.join(bad)} differ between result.json and the "
                                "final record")
    probes = {p["step"]: p for p in run.of("probe")}
    for d in run.of("diag"):
        p = probes.get(d.get("step"))
        if p is None:
            continue
        n += 1
        bad = [k for k in ("lam", "rho", "phase", "lr") if p.get(k) is not None and
               d.get(k) is not None and float(p[k]) != float(d[k])]
        if bad:
            problems.append(f"step {d['step']}: {', '.join(bad)} differ between the diag and "
                            "probe records")
    if n == 0:
        return _check("records", [], 0, "records agree", skip="no result.json and no probe "
                      "records (an unfinished run of an older format)")
    return _check("records", problems, n, "result.json and metrics.jsonl records agree")


def check_schedule(run: RunFiles) -> Check:
    """``schedule``: λ / ρ / phase / lr as configured."""
    cfg = run.config
    mc = cfg.get("method_config")
    P, E = cfg.get("steps_per_epoch"), cfg.get("epochs")
    clock = cfg.get("schedule_clock", "end_epoch")
    recs = run.of("diag") or run.of("probe")
    measure = "max relative deviation of lam/rho/lr from the configured schedules"
    if not recs:
        return _check("schedule", [], 0, measure, skip="no diag records (diag_every = 0 or a "
                      "float run)")
    if not isinstance(mc, dict) or not isinstance(P, int) or not isinstance(E, int):
        return _check("schedule", [], 0, measure, skip="config.json records no method_config "
                      "/ steps_per_epoch (a run written before they were recorded)")
    problems, worst, n = [], 0.0, 0
    for r in recs:
        s, e = int(r["step"]), int(r["epoch"])
        want_lr = expected_lr(cfg, e, P)
        if r.get("lr") is not None:
            dev = abs(float(r["lr"]) - want_lr) / max(abs(want_lr), 1e-300)
            worst, n = max(worst, dev), n + 1
            if dev > 1e-12:
                problems.append(f"step {s}: lr {r['lr']:.6g}, configured {want_lr:.6g}")
        name = mc.get("name")
        if name == "BinaryRelax":
            lam, phase, k = binaryrelax_state(mc, s, e, P, E, clock)
            n += 1
            if r.get("phase") is None or int(r["phase"]) != phase:
                problems.append(f"step {s}: phase {r.get('phase')}, configured {phase}")
            elif lam is not None:
                dev = abs(float(r["lam"]) - lam) / lam if r.get("lam") is not None else math.inf
                worst = max(worst, dev)
                if not dev <= rel_tol(k):
                    problems.append(f"step {s}: lam {r.get('lam')}, configured {lam:.10g}")
        elif name == "BCGD":
            rho, k = bcgd_rho(mc, s, e, P, clock)
            n += 1
            dev = abs(float(r["rho"]) - rho) / rho if r.get("rho") is not None and rho > 0 \
                else (0.0 if r.get("rho") == rho else math.inf)
            worst = max(worst, dev)
            if not dev <= rel_tol(k):
                problems.append(f"step {s}: rho {r.get('rho')}, configured {rho:.10g}")
        if name in ("BCGD", "BinaryConnect") and r.get("phase") is not None \
                and int(r["phase"]) != 2:
            problems.append(f"step {s}: phase {r['phase']}, but {name} has no phase 1")
    return _check("schedule", problems, n, measure, worst)


def _levels(spec: str) -> np.ndarray:
    q = parse_qset(spec)
    return np.asarray(q.unit_levels if q.scale is None else q.levels, dtype=np.float64)


def check_forward_point(run: RunFiles) -> Check:
    """``forward_point``: nearest levels and u = P(w) or the prox, at the sampled entries."""
    tensors = run.config.get("tensors") or {}
    probes = run.of("probe")
    measure = "max |u - expected| / tolerance over sampled entries (holds <= 1)"
    if not probes:
        return _check("forward_point", [], 0, measure, skip="no probe records (diag_every = 0,"
                      " a float run, or a run written before probes were logged)")
    problems, worst, n = [], 0.0, 0
    for r in probes:
        lam = r.get("lam")
        relaxed = r.get("phase") is not None and int(r["phase"]) == 1 and lam is not None
        for name, t in (r.get("tensors") or {}).items():
            spec = (tensors.get(name) or {}).get("qset") or run.config.get("weights")
            u = unit_roundoff((tensors.get(name) or {}).get("dtype"))
            levels = _levels(spec)
            d_alpha = 2.0 * (2.0 * gamma(int(t["numel"]), u) + u)
            for j, (w, uj, a, z) in enumerate(zip(t["w"], t["u"], t["scale"], t["level"])):
                n += 1
                if not (a > 0 and np.any(np.abs(levels - z) <= 2 * u * max(abs(z), 1.0))):
                    problems.append(f"step {r['step']} {name}[{t['idx'][j]}]: level {z} / "
                                    f"scale {a} not in the set")
                    continue
                dist = np.abs(w - a * levels)
                slack = 4 * u * (abs(w) + a * np.max(np.abs(levels)))
                if abs(w - a * z) > dist.min() + slack:
                    problems.append(f"step {r['step']} {name}[{t['idx'][j]}]: level {z} is not "
                                    f"nearest to w/alpha = {w / a:.6g}")
                p = a * z
                if relaxed:
                    want = (w + lam * p) / (1.0 + lam)
                    tol = (lam * abs(p) * (u + d_alpha) + 4 * u * (lam * abs(p) + abs(w))) / \
                        (1.0 + lam) + 8 * 2.0 ** -53 * (abs(p) + abs(w))
                else:
                    want, tol = p, (u + d_alpha) * abs(p)
                err = abs(uj - want)
                ratio = err / tol if tol > 0 else (0.0 if err == 0 else math.inf)
                worst = max(worst, ratio)
                if ratio > 1.0:
                    what = "prox (w + lam P(w))/(1 + lam)" if relaxed else "P(w)"
                    problems.append(f"step {r['step']} {name}[{t['idx'][j]}]: holds {uj:.9g}, "
                                    f"{what} = {want:.9g} (lam {lam}, phase {r.get('phase')})")
    return _check("forward_point", problems, n, measure, worst)


def check_orthogonality(run: RunFiles, orth_tol: float | None = None) -> Check:
    """``orthogonality`` with the dtype-derived tolerance (or a fixed ``orth_tol``)."""
    spec = run.config.get("weights")
    measure = ("max orth_rel / tau, tau = 4(u + 2 gamma_m)(1 + ||p||/||r||)" if orth_tol is None
               else f"max orth_rel / {orth_tol:g}") + "; holds <= 1"
    try:
        qset = parse_qset(spec) if isinstance(spec, str) else None
    except ValueError:
        qset = None
    if qset is None:
        return _check("orthogonality", [], 0, measure, skip="no weight set")
    if not qset.is_cone:
        return _check("orthogonality", [], 0, measure, skip=f"fixed-scale set {spec}: not a "
                      "cone, <r, p> = 0 is not implied")
    tensors = run.config.get("tensors") or {}
    probes = {p["step"]: p.get("tensors", {}) for p in run.of("probe")}
    problems, worst, n = [], 0.0, 0
    for r in run.of("diag"):
        for key, v in r.items():
            if not key.endswith("/orth_rel") or v is None:
                continue
            name = key[: -len("/orth_rel")]
            d2, orth = r.get(f"{name}/dist2"), r.get(f"{name}/orth_residual")
            if d2 is None or not math.isfinite(v):
                continue
            rn = math.sqrt(d2)
            pr = probes.get(r["step"], {}).get(name)
            if pr is not None:
                pn, numel = math.sqrt(pr["q_norm2"]), int(pr["numel"])
            elif orth and v > 0 and rn > 0:
                pn, numel = abs(orth) / (v * rn), 10**6
            else:
                pn, numel = 0.0, 10**6
            if orth_tol is None:
                u = unit_roundoff((tensors.get(name) or {}).get("dtype"))
                tau = 4 * (u + 2 * gamma(numel, u)) * (1 + (pn / rn if rn > 0 else math.inf))
            else:
                tau = orth_tol
            n += 1
            ratio = v / tau if tau > 0 else (0.0 if v == 0 else math.inf)
            worst = max(worst, ratio)
            if ratio > 1:
                problems.append(f"step {r['step']} {name}: orth_rel {v:.3g} > {tau:.3g}")
    if n == 0:
        return _check("orthogonality", [], 0, measure, skip="no orth_rel logged")
    return _check("orthogonality", problems, n, measure, worst)


def _dequantize(entry: dict[str, Any]) -> np.ndarray:
    codes = entry["codes"].long().numpy() if hasattr(entry["codes"], "long") else \
        np.asarray(entry["codes"])
    levels = as_f64(entry["levels"])
    z = codes.astype(np.float64) if entry.get("kind", "indices") == "values" else levels[codes]
    return as_f64(entry["scale"]) * z


def check_final(run: RunFiles) -> list[Check]:
    """``final_membership`` and ``final_projection`` (model.pt, quantized.pt, latent.pt)."""
    tensors = run.config.get("tensors") or {}
    m1 = "quantized tensors of model.pt equal alpha * level[code] of quantized.pt (bitwise)"
    m2 = "max (||w - W||^2 - dist(w, Q)^2) / tau_d over tensors (holds <= 1)"
    if run.result is None:
        why = "the run has not finished (no result.json)"
        return [_check("final_membership", [], 0, m1, skip=why),
                _check("final_projection", [], 0, m2, skip=why)]
    if not tensors:
        why = ("float weights" if run.config.get("method") == "float" else
               "no QuantOptimizer tensors recorded (UniQ quantizes in the forward pass, or an "
               "older run format)")
        return [_check("final_membership", [], 0, m1, skip=why),
                _check("final_projection", [], 0, m2, skip=why)]
    model, exported, latent = (run.tensors(f) for f in ("model.pt", "quantized.pt", "latent.pt"))
    problems, n = [], 0
    if model is None or exported is None:
        problems.append("model.pt or quantized.pt missing")
    else:
        import torch

        for name, meta in tensors.items():
            n += 1
            W, e = model.get(name), exported.get(name)
            if W is None or e is None:
                problems.append(f"{name}: missing from model.pt or quantized.pt")
                continue
            dt = getattr(torch, meta.get("dtype", "float32"))
            q = torch.from_numpy(_dequantize(e)).to(dt)
            if tuple(q.shape) != tuple(W.shape) or not torch.equal(q, W.to(dt)):
                bad = int((q != W.to(dt)).sum()) if q.shape == W.shape else -1
                problems.append(f"{name}: {bad} entries differ from alpha * level[code]")
    out = [_check("final_membership", problems, n, m1)]
    if latent is None or model is None:
        out.append(_check("final_projection", [], 0, m2, skip="no latent.pt (an older run "
                          "format)"))
        return out
    lat = latent.get("latent", {})
    problems, worst, n = [], 0.0, 0
    import theory

    for name, meta in tensors.items():
        if name not in lat or name not in model:
            problems.append(f"{name}: missing from latent.pt or model.pt")
            continue
        n += 1
        w, W = as_f64(lat[name]), as_f64(model[name])
        proj = theory.project(w, parse_qset(meta["qset"]), meta.get("axis"))
        q = np.asarray(proj.q, dtype=np.float64)
        d_star = float(np.sum(np.asarray(proj.dist2)))
        d_w = float(np.sum((w - W) ** 2))
        u = unit_roundoff(meta.get("dtype"))
        axis = meta.get("axis")
        m = w.size if axis is None else w.size // w.shape[axis]
        g = gamma(m, u)
        qn, rn, wn = float(np.linalg.norm(q)), math.sqrt(d_star), float(np.linalg.norm(w))
        tau = 4 * g * (wn ** 2 + qn ** 2) + 2 * u * qn * rn + ((2 * g + 2 * u) * qn) ** 2
        ratio = (d_w - d_star) / tau if tau > 0 else (0.0 if d_w <= d_star else math.inf)
        worst = max(worst, ratio)
        if ratio > 1:
            problems.append(f"{name}: ||w - W||^2 = {d_w:.9g} exceeds dist(w, Q)^2 = "
                            f"{d_star:.9g} by {d_w - d_star:.3g} > {tau:.3g}")
    out.append(_check("final_projection", problems, n, m2, worst))
    return out
