r"""Gaussian-optimal step sizes used to initialise quantized activations and UniQ steps.

Every table maps bits ``b`` to the MSE-optimal step of a uniform quantizer for unit-variance
Gaussian data (M = 2^b − 1):

.. math::

    c = \arg\min_{\Delta > 0} \mathbb{E}\,\big(Q_\Delta(X) - T(X)\big)^2,

* :data:`UNIQ_C_W` — symmetric mid-rise quantizer, levels ±Δ/2..±MΔ/2, round to nearest,
  target X. b ≤ 9: released by UniQ (:mod:`theory.released_tables`, with the source); b ≥ 10:
  derived (below).
* :data:`UNIQ_C_A` — {0, Δ, .., MΔ}, round to nearest, target ReLU(X). b ≤ 9: released by UniQ;
  b ≥ 10: derived.
* :data:`ROUND_OPTIMAL_ALPHA` — the same quantizer as ``UNIQ_C_A``, derived for every b (the
  exact optimum; UniQ's printed b ≤ 9 values differ by up to 3.3e-4 relative).
* :data:`CEIL_OPTIMAL_ALPHA` — BCGD's ceil quantizer σ(x, α) (Yin et al. 2019; released code
  penhunt/full-quantization-DNN ``QtUniFunction``), target ReLU(X), derived (b = 1: √(2/π)).
* :data:`BCGD_BIT_ALPHA` — BCGD's released initial α (``bit_alpha``), b ∈ {1, 2, 4}
  (:mod:`theory.released_tables`).

**How the derived entries were obtained and are checked.** They are the optima computed by
:mod:`theory.gaussian_steps` (the MSE as a sum of exact Gaussian cell integrals, Brent's method on
its derivative), stored here to 12 significant digits so that qopt needs no scipy at run time.
``tests/qopt/test_nn_constants.py`` recomputes every stored entry with
:mod:`theory.gaussian_steps` at test time (relative 1e-9) and checks the closed forms at b = 1
(:math:`2\sqrt{2/\pi}` for c_w, :math:`\sqrt{2/\pi}` for the ceil optimum). Finding: UniQ's
released ``c_a`` is less exact than its ``c_w`` (which matches to ~1e-11): relative error 1.2e-5
for b ≤ 5 and up to 3.3e-4 at b = 9 (negligible for an initial value; :data:`ROUND_OPTIMAL_ALPHA`
holds the exact optima).

**The BCGD mismatch.** BCGD's forward is the *ceil* quantizer but its released
``bit_alpha = {1: 1.2221, 2: 0.6511, 4: 0.1946}`` are within 0.7% of the *round-to-nearest*
optima (1.22401, 0.65077, 0.19325), not of the ceil optima (0.7979, 0.4866, 0.1666).
:func:`quant_relu_alpha` therefore offers ``init="matched"`` (the optimum of the forward actually
used; the default), ``"round"`` (the round-to-nearest optimum for any forward: what ``bit_alpha``
approximates) and ``"bcgd"`` (the released numbers, b ∈ {1, 2, 4} only).

All constants assume the quantizer input is ~N(0, 1) before the ReLU (e.g. right after a
BatchNorm without affine shift); scale them by the pre-activation standard deviation otherwise.
"""

from __future__ import annotations

from theory import released_tables as _released
from theory._validate import check_bits, check_choice

__all__ = [
    "ALPHA_INITS",
    "BCGD_BIT_ALPHA",
    "CEIL_OPTIMAL_ALPHA",
    "ROUND_OPTIMAL_ALPHA",
    "TABLE_SOURCES",
    "UNIQ_C_A",
    "UNIQ_C_W",
    "quant_relu_alpha",
    "uniq_activation_constant",
    "uniq_weight_constant",
]

#: Derived (module docstring): c_w[b] for b >= 10.
_DERIVED_C_W: dict[int, float] = {
    10: 0.00878546458108, 11: 0.00464984183806, 12: 0.00244841108375, 13: 0.00128362073935,
    14: 0.000670451793115, 15: 0.0003490593861, 16: 0.000181223570034,
}
#: Optimal α of round-to-nearest {0..M}α for ReLU(N(0,1)), derived for every b.
ROUND_OPTIMAL_ALPHA: dict[int, float] = {
    1: 1.22400636192, 2: 0.650769703997, 3: 0.353411315571, 4: 0.193248524397, 5: 0.105487586058,
    6: 0.057261280721, 7: 0.0308700860404, 8: 0.0165281528308, 9: 0.0087933119353,
    10: 0.00465193578859, 11: 0.00244896631907, 12: 0.00128376717832, 13: 0.000670490238676,
    14: 0.000349069439888, 15: 0.000181226190283, 16: 9.38572251166e-05,
}
#: Optimal α of BCGD's ceil quantizer for ReLU(N(0,1)), derived (b = 1: √(2/π)).
CEIL_OPTIMAL_ALPHA: dict[int, float] = {
    1: 0.797884560803, 2: 0.486570160686, 3: 0.289309808552, 4: 0.16664067544, 5: 0.0938286941191,
    6: 0.0519708292376, 7: 0.028418452952, 8: 0.0153772867175, 9: 0.00824848776172,
    10: 0.00439248103192, 11: 0.00232485737088, 12: 0.00122418949606, 13: 0.000641806323888,
    14: 0.00033522487766, 15: 0.0001745294367, 16: 9.06117205723e-05,
}
#: Weight step c_w[b] (× std(W)): released (b <= 9), derived (b >= 10).
UNIQ_C_W: dict[int, float] = {**_released.UNIQ_C_W, **_DERIVED_C_W}
#: Activation step c_a[b] (× pre-ReLU std): released (b <= 9), derived (b >= 10, the same
#: quantizer as ROUND_OPTIMAL_ALPHA).
UNIQ_C_A: dict[int, float] = {**_released.UNIQ_C_A,
                              **{b: ROUND_OPTIMAL_ALPHA[b] for b in range(10, 17)}}
#: BCGD's released initial α (ceil forward, but round-to-nearest optima; module docstring).
BCGD_BIT_ALPHA: dict[int, float] = _released.BCGD_BIT_ALPHA

TABLE_SOURCES: dict[str, str] = {
    "UNIQ_C_W": _released.TABLE_SOURCES["UNIQ_C_W"] + " (b<=9); derived (b>=10)",
    "UNIQ_C_A": _released.TABLE_SOURCES["UNIQ_C_A"] + " (b<=9); derived (b>=10)",
    "ROUND_OPTIMAL_ALPHA": "derived (theory.gaussian_steps; checked in the tests)",
    "CEIL_OPTIMAL_ALPHA": "derived (theory.gaussian_steps; checked in the tests)",
    "BCGD_BIT_ALPHA": _released.TABLE_SOURCES["BCGD_BIT_ALPHA"],
}

#: Choices of ``init`` in :func:`quant_relu_alpha`.
ALPHA_INITS: tuple[str, ...] = ("matched", "round", "bcgd")


def uniq_weight_constant(bits: int) -> float:
    """c_w[b]: UniQ's weight step for unit-variance weights (Δ = std(W)·c_w[b]; Pham et al.
    2021)."""
    return UNIQ_C_W[check_bits(bits, "bits")]


def uniq_activation_constant(bits: int) -> float:
    """c_a[b]: UniQ's activation step for unit pre-ReLU std (Δ = √(2 E x²)·c_a[b]; Pham et al.
    2021)."""
    return UNIQ_C_A[check_bits(bits, "bits")]


def quant_relu_alpha(bits: int, forward: str = "ceil", init: str = "matched") -> float:
    r"""Initial α of :class:`qopt.nn.QuantReLU` for pre-activations ~ N(0, 1).

    Args:
        bits: activation bits b (1..16).
        forward: ``"ceil"`` (BCGD's σ) or ``"round"`` (round to nearest).
        init: ``"matched"`` = MSE-optimal α of *this* forward (:data:`CEIL_OPTIMAL_ALPHA` or
            :data:`ROUND_OPTIMAL_ALPHA`); ``"round"`` = the round-to-nearest optimum whatever the
            forward (what BCGD's ``bit_alpha`` approximates); ``"bcgd"`` = the released
            ``bit_alpha`` (only b ∈ {1, 2, 4}).

    Raises:
        ValueError: unknown ``forward``/``init``, bits out of 1..16, or ``init="bcgd"`` with b
            not in {1, 2, 4}.
    """
    bits = check_bits(bits, "bits")
    forward = check_choice(forward, "forward", ("ceil", "round"))
    init = check_choice(init, "init", ALPHA_INITS)
    if init == "bcgd":
        if bits not in BCGD_BIT_ALPHA:
            raise ValueError(f"init='bcgd' has released constants for bits in "
                             f"{sorted(BCGD_BIT_ALPHA)} only, got bits={bits}")
        return BCGD_BIT_ALPHA[bits]
    if init == "round" or forward == "round":
        return ROUND_OPTIMAL_ALPHA[bits]
    return CEIL_OPTIMAL_ALPHA[bits]
