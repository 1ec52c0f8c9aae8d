r"""``verify run`` section (a): implementation invariants. A failure here is a bug (or a
tampered run directory): ``verify run`` exits 1.

=====================  =====================================================================
check                  statement
=====================  =====================================================================
log                    every line of ``metrics.jsonl`` is a complete record (UTF-8 JSON
                       object with a string ``type``; ``diag`` values numbers or null); only a
                       torn last line (no final newline: a killed write) is tolerated, and a
                       damaged line is named by its line number
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
float32). A scale is a quotient of sums of n non-negative terms
(:math:`\alpha = \langle w,z\rangle/\langle z,z\rangle`, or :math:`\|w\|_1/n` for one-scale
binary sets); computed in ANY summation order each sum has relative error at most
:math:`\gamma_n = nu/(1-nu)` (Higham 2002, Lemma 3.1), so two code paths computing the same
scale (the forward point's and the projection's) agree within
:math:`\delta_\alpha = 2(\gamma_n + u)` relative. Nothing is assumed about the engine's order of
summation; the structural checks below are independent of that (loose) bound.

* forward point: from the point the model holds, :math:`\hat p_j = u_j` (P(w)) or
  :math:`\hat p_j = ((1+\lambda)u_j - w_j)/\lambda` (prox: the engine forms
  :math:`\mathrm{fl}(\mathrm{fl}(\mathrm{fl}(\lambda p)+w)/\mathrm{fl}(1+\lambda))`, four roundings
  of at most u relative to :math:`\lambda|p|+|w|`, amplified by :math:`(1+\lambda)/\lambda`:
  :math:`e_j = 4u(\lambda|\alpha_j z_j|+|w_j|)/\lambda`; for P(w), :math:`e_j = u|u_j|`). Then
  (i) :math:`\hat p_j/\alpha_j` rounds to the projection's level :math:`z_j` (or to its neighbour
  when :math:`w_j/\alpha_j` lies within :math:`\delta_\alpha` of the decision midpoint: a near-tie
  decided by the other code path's scale); (ii) a zero level gives :math:`|\hat p_j| \le e_j`;
  (iii) the implied scales :math:`\hat p_j / z_j` of one slice are ONE scale: their intervals
  :math:`\pm (e_j/|z_j| + 2u\alpha_j)` intersect — a wrong λ (used or logged) or a forged value
  breaks this at the u level; (iv) that scale is within :math:`\delta_\alpha` of the projection's;
* nearest level: distances within :math:`4u(|w_j| + \alpha_j\max|z|)` of the best are ties;
* orthogonality: the logged P is :math:`P^* + \delta` with :math:`\|\delta\| \le (u +
  2\gamma_n)\|P^*\|` (rounding of the product; the LS scale's two sums), and
  :math:`\langle r^*, P^*\rangle = 0`, so
  :math:`|\langle r, p\rangle|/(\|r\|\|p\|) \le (u+2\gamma_n)(1 + \|p\|/\|r\|)` to first order;
  we allow :math:`\tau = 4(u+2\gamma_n)(1+\|p\|/\|r\|)` (the second term is why a near-quantized
  float32 tensor shows 1e-4: round-off amplified by :math:`\|p\|/\|r\|`, not a bug);
* final projection: a scale error :math:`\delta\alpha` raises the squared distance by
  :math:`\|z\|^2\delta\alpha^2`, the final rounding by at most :math:`2u\|q\|\|r\| + u^2\|q\|^2`,
  and a near-tie between candidate scales decided in the compute dtype by at most
  :math:`4\gamma_n(\|w\|^2+\|q\|^2)`: :math:`\tau_d = 4\gamma_n(\|w\|^2+\|q\|^2) + 2u\|q\|\|r\| +
  ((2\gamma_n+2u)\|q\|)^2`, with n the slice length.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from proofs_check.report import FAIL, PASS, SKIP, Check
from proofs_check.run_files import RunFiles, gamma, unit_roundoff
from proofs_check.run_schedules import (
    bcgd_rho,
    binaryrelax_state,
    expected_lr,
    rel_tol,
    staged_state,
)
from theory.sets import is_affine, parse_qset

SECTION = "invariants"
SHOW = 4
EVAL_KEYS = ("epoch", "step", "test_acc", "test_loss", "train_acc", "train_loss")


def invariant(name: str, problems: list[str], n: int, measure: str, worst: float = math.nan,
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


def check_log(run: RunFiles) -> Check:
    """``log``: every line of ``metrics.jsonl`` is a complete record; only a torn last line (a
    killed write, no final newline) is tolerated. A damaged line fails, named by its number."""
    problems = [f"metrics.jsonl line {n}: {what}" for n, what in run.damaged]
    measure = "every line of metrics.jsonl is a record (a torn last line is tolerated)"
    check = invariant("log", problems, run.lines, measure)
    if run.torn and not problems:
        check = replace(check, detail=f"{check.detail}; torn last line (line {run.lines}) "
                                      "tolerated")
    return check


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
        return invariant("records", [], 0, "records agree", skip="no result.json and no probe "
                      "records (an unfinished run of an older format)")
    return invariant("records", problems, n, "result.json and metrics.jsonl records agree")


def check_schedule(run: RunFiles) -> Check:
    """``schedule``: λ / ρ / phase / lr as configured."""
    cfg = run.config
    mc = cfg.get("method_config")
    P, E = cfg.get("steps_per_epoch"), cfg.get("epochs")
    clock = cfg.get("schedule_clock", "end_epoch")
    recs = run.of("diag") or run.of("probe")
    measure = "max relative deviation of lam/rho/lr from the configured schedules"
    if not recs:
        return invariant("schedule", [], 0, measure, skip="no diag records (diag_every = 0 or a "
                      "float run)")
    if not isinstance(mc, dict) or not isinstance(P, int) or not isinstance(E, int):
        return invariant("schedule", [], 0, measure, skip="config.json records no method_config "
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
        elif name in ("ProxQuant", "PARQ"):
            lam, phase, k = staged_state(mc, s, e, P, E, clock)
            n += 1
            if r.get("phase") is None or int(r["phase"]) != phase:
                problems.append(f"step {s}: phase {r.get('phase')}, configured {phase}")
            if lam is not None and r.get("lam") is not None:
                dev = abs(float(r["lam"]) - lam) / max(lam, 1e-300) if lam > 0 else \
                    abs(float(r["lam"]))
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
    return invariant("schedule", problems, n, measure, worst)


def _levels(spec: str) -> np.ndarray:
    q = parse_qset(spec)
    return np.asarray(q.unit_levels if q.scale is None else q.levels, dtype=np.float64)


def _forward_tensor(t: dict[str, Any], levels: np.ndarray, u: float, lam: float | None,
                   relaxed: bool, where: str) -> tuple[list[str], float, int]:
    """Checks (i)-(iv) of the module docstring on one probe tensor; (problems, worst ratio, n)."""
    problems: list[str] = []
    worst, n = 0.0, 0
    d_alpha = 2.0 * (gamma(int(t["numel"]), u) + u)
    zmax = float(np.max(np.abs(levels)))
    mids = (levels[1:] + levels[:-1]) / 2.0
    slices: dict[float, list[tuple[float, float]]] = {}
    for j, (w, uj, a, z) in enumerate(zip(t["w"], t["u"], t["scale"], t["level"])):
        n += 1
        at = f"{where}[{t['idx'][j]}]"
        if not (a > 0 and np.any(np.abs(levels - z) <= 2 * u * max(abs(z), 1.0))):
            problems.append(f"{at}: level {z} / scale {a} not in the set")
            continue
        if abs(w - a * z) > np.min(np.abs(w - a * levels)) + 4 * u * (abs(w) + a * zmax):
            problems.append(f"{at}: level {z} is not nearest to w/alpha = {w / a:.9g}")
        if relaxed:
            p_hat = ((1.0 + lam) * uj - w) / lam
            e = 4 * u * (lam * abs(a * z) + abs(w)) / lam + 4 * 2.0 ** -53 * (abs(uj) + abs(w))
        else:
            p_hat, e = uj, u * abs(uj)
        z_hat = levels[int(np.argmin(np.abs(p_hat / a - levels)))]
        if z_hat != z:
            near = np.min(np.abs(w / a - mids)) <= (2 * d_alpha + 4 * u) * max(abs(w / a), 1.0) \
                if mids.size else False
            if not (near and abs(z_hat - z) <= np.max(np.diff(levels), initial=0.0) + 1e-12):
                problems.append(f"{at}: the model holds {uj:.9g}, level {z_hat} at the logged "
                                f"scale, but the projection's level is {z} (lam {lam})")
                continue
        if z_hat == 0:
            ratio = abs(p_hat) / e if e > 0 else (0.0 if p_hat == 0 else math.inf)
            worst = max(worst, ratio)
            if ratio > 1:
                problems.append(f"{at}: zero level but the model holds {uj:.9g} (lam {lam})")
            continue
        slices.setdefault(a, []).append((p_hat / z_hat, e / abs(z_hat) + 2 * u * a))
    for a, vals in slices.items():
        lo = max(v - r for v, r in vals)
        hi = min(v + r for v, r in vals)
        spread = max(v for v, _ in vals) - min(v for v, _ in vals)
        ratio = spread / max(min(2 * r for _, r in vals), 1e-300)
        worst = max(worst, min(ratio, 1.0) if lo <= hi else ratio)
        if lo > hi:
            problems.append(f"{where}: the held values are not one scale times levels (implied "
                            f"scales spread {spread:.3g} around {a:.9g}; lam {lam}): not "
                            f"{'the prox' if relaxed else 'P(w)'} with the logged lam")
            continue
        mid = (lo + hi) / 2.0
        dev = abs(mid - a) / (d_alpha * a + (hi - lo) / 2.0)
        worst = max(worst, dev)
        if dev > 1:
            problems.append(f"{where}: the held scale {mid:.9g} differs from the projection's "
                            f"{a:.9g} by more than {d_alpha:.3g} relative")
    return problems, worst, n


def check_forward_point(run: RunFiles) -> Check:
    """``forward_point``: nearest levels, and u = P(w) or the prox, at the sampled entries."""
    tensors = run.config.get("tensors") or {}
    probes = run.of("probe")
    measure = "max deviation / tolerance over sampled entries and slices (holds <= 1)"
    if not probes:
        return invariant("forward_point", [], 0, measure, skip="no probe records (diag_every = 0,"
                      " a float run, or a run written before probes were logged)")
    mc = run.config.get("method_config") or {}
    method = mc.get("name") or {"binaryrelax": "BinaryRelax", "bcgd": "BCGD",
                                "binaryconnect": "BinaryConnect"}.get(run.config.get("method"))
    problems, worst, n, other, affine = [], 0.0, 0, 0, 0
    for r in probes:
        lam = r.get("lam")
        phase1 = r.get("phase") is not None and int(r["phase"]) == 1
        relaxed = phase1 and lam is not None and method == "BinaryRelax"
        if phase1 and method not in ("BinaryRelax", "BinaryConnect", "BCGD"):
            other += 1  # PARQ / ProxQuant Phase I: their own proxes, checked in theory/
            continue
        for name, t in (r.get("tensors") or {}).items():
            meta = tensors.get(name) or {}
            spec = meta.get("qset") or run.config.get("weights")
            if is_affine(parse_qset(spec)):  # levels l - z: z per block is not in the probe
                affine += 1
                continue
            p, w_, k = _forward_tensor(t, _levels(spec), unit_roundoff(meta.get("dtype")),
                                       lam, relaxed, f"step {r['step']} {name}")
            problems += p
            worst, n = max(worst, w_), n + k
    if n == 0 and affine:
        return invariant("forward_point", [], 0, measure, skip="affine set (uint:B): the probe "
                         "records the level l - z but not each block's zero point z, so the "
                         "nearest-level test has no level table; final_projection checks the "
                         "result against theory.project")
    if n == 0 and other:
        return invariant("forward_point", [], 0, measure, skip=f"{method}'s Phase-I forward "
                         "point is its own prox (not P(w) or BinaryRelax's); only Phase II is "
                         "checked here and no Phase-II probe was logged")
    return invariant("forward_point", problems, n, measure, worst)


def check_orthogonality(run: RunFiles, orth_tol: float | None = None) -> Check:
    """``orthogonality`` with the dtype-derived tolerance (or a fixed ``orth_tol``)."""
    spec = run.config.get("weights")
    measure = ("max orth_rel / tau, tau = 4(u + 2 gamma_n)(1 + ||p||/||r||)" if orth_tol is None
               else f"max orth_rel / {orth_tol:g}") + "; holds <= 1"
    try:
        qset = parse_qset(spec) if isinstance(spec, str) else None
    except ValueError:
        qset = None
    if qset is None:
        return invariant("orthogonality", [], 0, measure, skip="no weight set")
    if not qset.is_cone:
        return invariant("orthogonality", [], 0, measure, skip=f"fixed-scale set {spec}: not a "
                      "cone, <r, p> = 0 is not implied")
    tensors = run.config.get("tensors") or {}
    probes = {p["step"]: p.get("tensors", {}) for p in run.of("probe")}
    problems, worst, n = [], 0.0, 0
    unknown: set[str] = set()
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
            shape = (tensors.get(name) or {}).get("shape")
            numel = int(pr["numel"]) if pr is not None else (
                int(np.prod(shape)) if isinstance(shape, list) else None)
            if pr is not None:
                pn = math.sqrt(pr["q_norm2"])
            elif orth and v > 0 and rn > 0:
                pn = abs(orth) / (v * rn)
            else:
                pn = 0.0
            if orth_tol is not None:
                tau = orth_tol
            elif numel is None:
                unknown.add(name)
                continue
            else:
                u = unit_roundoff((tensors.get(name) or {}).get("dtype"))
                tau = 4 * (u + 2 * gamma(numel, u)) * (1 + (pn / rn if rn > 0 else math.inf))
            n += 1
            ratio = v / tau if tau > 0 else (0.0 if v == 0 else math.inf)
            worst = max(worst, ratio)
            if ratio > 1:
                problems.append(f"step {r['step']} {name}: orth_rel {v:.3g} > {tau:.3g}")
    if n == 0:
        why = (f"the tolerance needs the tensor sizes, not recorded for {sorted(unknown)} (an "
               "older run format): pass --orth-tol") if unknown else "no orth_rel logged"
        return invariant("orthogonality", [], 0, measure, skip=why)
    return invariant("orthogonality", problems, n, measure, worst)
