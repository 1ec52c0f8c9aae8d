r"""``verify run`` sections (b) theorem hypotheses and (c) convergence diagnostics. Both are
informational: they say whether the hypotheses of a convergence argument held along the run,
and whether it settled; a violation is not a bug (``verify run`` exits 0 unless ``--strict``).

(b) **Theorem hypotheses.**

* ``bcgd_step_condition`` — BCGD's sufficient descent (Yin et al. 2019; re-derived here:
  projection optimality at t and t+1 give :math:`f(u^{t+1}) \le f(u^t) - (\rho/(2\eta) - L/2)
  \|u^{t+1}-u^t\|^2`) needs :math:`\eta < \rho/L`. The run logs, per quantized tensor, the
  estimator :math:`\hat L_t = \|g_t - g_{t-1}\|/\|u_t - u_{t-1}\|`: a secant over the two
  consecutive steps ending at the record, each gradient on its own minibatch, at the quantized
  points (so it includes minibatch noise divided by a small displacement: an over-estimate of
  the curvature when the codes barely move). The step is the effective one: heavy-ball momentum
  μ turns a constant gradient's step η into :math:`\eta/(1-\mu)`, so
  :math:`\eta_{eff} = \eta/(1-\mu)` (SGD; Adam's step is not a multiple of the gradient: not
  evaluated). Reported: the fraction of (record, tensor) pairs with
  :math:`\eta_{eff}\hat L/\rho < 1`, the median and the maximum of that ratio.
* ``approx_orthogonality`` — BinaryRelax's descent bound (derived here, for fixed λ, an
  L-smooth f and a cone Q; the paper's exact condition was not available) needs the cross term
  :math:`|\langle r_{t+1},p_t\rangle + \langle r_t,p_{t+1}\rangle| < \|p_{t+1}-p_t\|^2`; the
  logged ``approx_orth_ratio`` is their quotient; Phase-I records only.

Each says plainly when the theorem does not cover the run: it assumes exact (full-batch)
gradients of an L-smooth objective and a plain gradient step; a run with minibatches,
momentum, weight decay, BatchNorm or quantized activations (coarse gradients) is outside it, and
the statement is then a diagnostic of how far from the hypothesis the run was, not a test of
the theorem.

(c) **Convergence diagnostics.** ``code_flips``: the fraction of codes that changed between
consecutive records, over the last quarter of the records, against ``flip_tol`` (the
arguments assume the quantized point eventually stops moving).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from proofs_check.report import HOLDS, SKIP, VIOLATED, Check
from proofs_check.run_files import RunFiles


def _per_layer(rec: dict[str, Any], metric: str) -> dict[str, float]:
    out = {}
    for k, v in rec.items():
        if k.endswith("/" + metric) and v is not None and isinstance(v, (int, float)) \
                and math.isfinite(v):
            out[k[: -len(metric) - 1]] = float(v)
    return out


def not_covered(cfg: dict[str, Any]) -> list[str]:
    """Why a convergence theorem stated for exact gradient descent on a smooth objective does
    not cover this run (empty: covered)."""
    why = []
    data = cfg.get("data") or {}
    n_train, bs = data.get("n_train"), cfg.get("batch_size")
    if not (isinstance(n_train, int) and isinstance(bs, int) and bs >= n_train):
        why.append("stochastic minibatch gradients")
    if cfg.get("optimizer", "sgd") != "sgd":
        why.append(f"{cfg.get('optimizer')} steps (not gradient steps)")
    elif (cfg.get("momentum") or 0) > 0:
        why.append(f"momentum {cfg.get('momentum')}")
    if (cfg.get("weight_decay") or 0) > 0:
        why.append(f"weight decay {cfg.get('weight_decay')}")
    if cfg.get("act_bits") is not None:
        why.append("quantized activations (coarse, not true, gradients)")
    model = str(cfg.get("model", ""))
    if model in ("cnn1d", "cnn2d", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                 "vgg11", "vgg13", "vgg16", "vgg19", "lenet5") or \
            (cfg.get("model_args") or {}).get("batch_norm"):
        why.append("a ReLU network (not globally L-smooth)")
    return why


def _statement(name: str, ratios: list[tuple[int, str, float]], measure: str, cover: list[str],
               section: str = "hypotheses", limit: float = 1.0, strict_lt: bool = True) -> Check:
    if not ratios:
        return Check(name, SKIP, math.nan, measure, "no finite value logged", section=section)
    vals = [r for _, _, r in ratios]
    ok = [v < limit if strict_lt else v <= limit for v in vals]
    frac = sum(ok) / len(ok)
    med, mx = statistics.median(vals), max(vals)
    bad = [(s, ly, v) for (s, ly, v), good in zip(ratios, ok) if not good]
    detail = (f"holds at {100 * frac:.1f}% of {len(vals)} (record, tensor) values; median "
              f"{med:.3g}, max {mx:.3g}")
    if bad:
        detail += "; first violations: " + ", ".join(f"step {s} {ly} ({v:.3g})"
                                                    for s, ly, v in bad[:3])
    if cover:
        detail += "; the theorem does not cover this run: " + ", ".join(cover)
    extra = {"fraction_holds": frac, "median": med, "max": mx, "n": len(vals),
             "not_covered_by_theorem": cover,
             "failed_steps": sorted({s for s, _, _ in bad}),
             "failed_layers": sorted({ly for _, ly, _ in bad})}
    return Check(name, HOLDS if not bad else VIOLATED, mx, measure, detail, extra=extra,
                 section=section)


def bcgd_step_condition(run: RunFiles) -> Check:
    cfg = run.config
    measure = "eta_eff * L_hat / rho, eta_eff = lr / (1 - momentum); holds < 1"
    method = cfg.get("method")
    if method != "bcgd":
        return Check("bcgd_step_condition", SKIP, math.nan, measure,
                     f"a BCGD hypothesis; this run's method is {method!r}",
                     section="hypotheses")
    if cfg.get("optimizer", "sgd") != "sgd":
        return Check("bcgd_step_condition", SKIP, math.nan, measure,
                     f"optimizer {cfg.get('optimizer')!r}: the step is not a multiple of the "
                     "gradient, eta < rho / L has no meaning", section="hypotheses")
    mu = float(cfg.get("momentum") or 0.0)
    ratios = []
    for r in run.of("diag"):
        lr, rho = r.get("lr"), r.get("rho")
        if lr is None or rho is None or rho <= 0:
            continue
        for layer, L in _per_layer(r, "lipschitz_est").items():
            ratios.append((r.get("step"), layer, float(lr) / (1.0 - mu) * L / float(rho)))
    return _statement("bcgd_step_condition", ratios, measure, not_covered(cfg))


def approx_orthogonality(run: RunFiles) -> Check:
    cfg = run.config
    measure = "approx_orth_ratio |<r+,p> + <r,p+>| / ||p+ - p||^2 (phase-1 records); holds < 1"
    if cfg.get("method") != "binaryrelax":
        return Check("approx_orthogonality", SKIP, math.nan, measure,
                     f"a BinaryRelax hypothesis; this run's method is {cfg.get('method')!r}",
                     section="hypotheses")
    ratios = [(r.get("step"), layer, v) for r in run.of("diag")
              if r.get("phase") in (None, 1, 1.0)
              for layer, v in _per_layer(r, "approx_orth_ratio").items()]
    return _statement("approx_orthogonality", ratios, measure, not_covered(cfg))


def code_flips(run: RunFiles, flip_tol: float) -> Check:
    measure = f"flip_frac over the last quarter of the records; holds <= {flip_tol:g}"
    recs = run.of("diag")
    if not recs:
        return Check("code_flips", SKIP, math.nan, measure, "no diag records",
                     section="diagnostics")
    tail = recs[len(recs) - max(1, len(recs) // 4):]
    ratios = [(r.get("step"), layer, v) for r in tail
              for layer, v in _per_layer(r, "flip_frac").items()]
    c = _statement("code_flips", ratios, measure, [], section="diagnostics", limit=flip_tol,
                   strict_lt=False)
    return c
