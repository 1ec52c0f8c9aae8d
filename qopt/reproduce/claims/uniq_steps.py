r"""Claim ``uniq-steps``: UniQ's step-size initialisation constants are the MSE-optimal steps
of its quantizers for Gaussian data (Pham et al., IEEE Access 2021; released table in
phuocphn/uniq ``quantizer/uniq.py``: ``delta_normal`` c_w, ``delta_positive_normal`` c_a).

* c_w[b]: 2^b-level symmetric mid-rise quantizer (levels ±Δ/2, …, ±(2^b−1)Δ/2), data N(0,1);
* c_a[b]: round-to-nearest {0, Δ, …, (2^b−1)Δ}, data ReLU(N(0,1)).

Protocol: the optimum is recomputed by two independent routes — exact Gaussian cell integrals
minimised by a root of MSE′ (:mod:`theory.gaussian_steps`) for b = 1..9, and direct
``scipy.integrate.quad`` of the MSE minimised by bounded Brent
(:func:`proofs_check.claims_steps.optimal_step_quad`) for the smaller b — and set beside the
released table, with relative differences and the relative MSE excess
MSE(c_table)/MSE(c_opt) − 1.

Decision rules (``within``): the two routes agree when every relative difference is ≤ 1e-6
(refuted > 1e-3); the table is reproduced when every released constant is within 1e-3 relative
of the optimum (a step off by 0.1% raises the MSE by ~1e-7 relative, the MSE being quadratic at
its minimum), refuted when one is more than 1e-2 off, inconclusive between. Which constants agree
to every printed digit (|Δ| ≤ half a unit in the last printed digit + 1e-8 relative, our
numerical precision) is reported as a finding.
BCGD's released initial α (``bit_alpha``) is compared in the same way with the optimum of
BCGD's own ceil quantizer — a finding about released code, reported beside the claim.
"""

from __future__ import annotations

from decimal import Decimal

from qopt.reproduce.claim import ClaimResult, ClaimSpec, Context, Part, Table
from qopt.reproduce.verdict import combine, smoke, within

#: relative precision claimed for our optimum when judging "agrees to every printed digit"
#: (the two routes agree to ~5e-9, limited by the quadrature route)
NUM_TOL = 1e-8


def protocol(ctx: Context) -> dict:
    return {"mode": ctx.mode, "bits": list(range(1, 10)),
            "quad_bits": [1, 2] if ctx.quick else [1, 2, 3, 4, 5, 6],
            "bcgd_bits": [1, 2, 4], "tol_routes": [1e-6, 1e-3], "tol_table": [1e-3, 1e-2]}


def half_unit(x: float) -> float:
    """Half a unit in the last digit of ``repr(x)`` (the printed precision of a table entry)."""
    exp = Decimal(repr(float(x))).as_tuple().exponent
    return 0.5 * 10.0 ** int(exp)


def run(ctx: Context, prot: dict) -> ClaimResult:
    from proofs_check.claims_steps import optimal_step_quad, uniq_activation, uniq_weight
    from theory import gaussian_steps as gs

    kinds = {"c_w": (gs.UNIQ_C_W, gs.uniq_weight_cells, uniq_weight, False),
             "c_a": (gs.UNIQ_C_A, gs.uniq_activation_cells, uniq_activation, True)}
    rows, route_err, table_err, exact, data = [], [], [], [], {}
    for b in prot["bits"]:
        row: list = [b]
        for name, (table, cells, qfun, relu) in kinds.items():
            opt = gs.optimal_step(cells(b))
            quad = optimal_step_quad(qfun, b, relu) if b in prot["quad_bits"] else None
            rel = table[b] / opt - 1.0
            excess = gs.cell_mse(table[b], cells(b)) / gs.cell_mse(opt, cells(b)) - 1.0
            table_err.append(rel)
            if quad is not None:
                route_err.append(quad / opt - 1.0)
            if abs(table[b] - opt) <= half_unit(table[b]) + NUM_TOL * opt:
                exact.append(f"{name}[{b}]")
            row += [f"{table[b]:.10g}", f"{opt:.10g}", "-" if quad is None else f"{quad:.10g}",
                    f"{rel:+.2e}", f"{excess:.1e}"]
            data[f"{name}[{b}]"] = {"table": table[b], "theory": opt, "quad": quad,
                                    "rel_diff": rel, "mse_excess": excess}
        rows.append(tuple(row))
    brows, berr = [], []
    for b in prot["bcgd_bits"]:
        ceil_opt = gs.bcgd_ceil_step(b)
        round_opt = gs.uniq_activation_step(b)
        a = gs.BCGD_BIT_ALPHA[b]
        berr.append(a / ceil_opt - 1.0)
        brows.append((b, f"{a:g}", f"{ceil_opt:.6g}", f"{a / ceil_opt - 1:+.1%}",
                      f"{round_opt:.6g}", f"{a / round_opt - 1:+.2%}"))
    q = ctx.quick
    parts = (
        Part("two routes agree", "cell-integral optimum = quadrature optimum",
             smoke(within(route_err, *prot["tol_routes"], "relative difference"), q)),
        Part("released table optimal", "every c_w[b], c_a[b] (b = 1..9) is the MSE-optimal "
             "step", smoke(within(table_err, *prot["tol_table"], "relative difference"), q)),
        Part("BCGD bit_alpha (finding)", "BCGD's released bit_alpha is the optimal step of its "
             "ceil quantizer", smoke(within(berr, *prot["tol_table"], "relative difference"), q),
             counts=False),
    )
    verdict = combine([p.verdict for p in parts if p.counts], "parts")
    not_exact = [k for k in data if k not in exact]
    cols = ("b",) + tuple(f"{n} {c}" for n in kinds
                          for c in ("released", "optimum", "quadrature", "rel. diff",
                                    "MSE excess"))
    return ClaimResult(
        verdict=verdict,
        protocol_lines=(
            f"Optimum for b = {prot['bits'][0]}..{prot['bits'][-1]}: exact Gaussian cell "
            "integrals, brentq on MSE′ (theory.gaussian_steps).",
            f"Independent route for b ∈ {prot['quad_bits']}: scipy quad of the MSE with the "
            "quantizer thresholds as break points, bounded Brent (proofs_check.claims_steps).",
            "Released table: phuocphn/uniq quantizer/uniq.py (delta_normal, "
            "delta_positive_normal), as copied in theory.gaussian_steps.",
        ),
        deviations=(("--quick: quadrature route for b ∈ {1, 2} only.",) if q else ()),
        parts=parts,
        tables=(
            Table("UniQ step constants: released vs recomputed", cols, tuple(rows),
                  "rel. diff = released/optimum − 1; MSE excess = MSE(released)/MSE(optimum) − 1"),
            Table("BCGD bit_alpha vs the optimum of its ceil quantizer (and of round-to-nearest)",
                  ("b", "bit_alpha", "ceil optimum", "rel. diff", "round optimum", "rel. diff"),
                  tuple(brows)),
        ),
        findings=(
            f"Agree to every printed digit: {', '.join(exact) or 'none'}.",
            f"Differ beyond the printed digits (still within the 1e-3 tolerance if the verdict "
            f"is reproduced): {', '.join(not_exact) or 'none'}; largest relative difference "
            f"{max(abs(x) for x in table_err):.2e}.",
            "BCGD's bit_alpha is within 1% of the round-to-nearest optimum, not of the optimum "
            "of the ceil quantizer its forward pass uses (largest relative difference "
            f"{max(abs(x) for x in berr):.0%}).",
        ),
        data=data,
    )


SPEC = ClaimSpec(
    name="uniq-steps",
    title="UniQ's Gaussian-optimal step constants c_w, c_a are the MSE-optimal steps",
    statement="The quantizer step is initialised as Δ = c[b]·σ with c[b] the step minimising "
              "the quantization MSE of unit Gaussian data (weights: symmetric mid-rise, "
              "activations: after ReLU).",
    paper_numbers="released table c_w, c_a for b = 1..9 (UniQ code)",
    source="Pham, Abraham, Chung, 'Training multi-bit quantized and binarized networks with a "
           "learnable symmetric quantizer', IEEE Access 9 (2021); released code phuocphn/uniq",
    kind="closed-form",
    protocol=protocol,
    run=run,
)
