r"""APPROXIMATE quantizers of the literature and of the papers' released code, for comparison.

None of these is a projection: each returns a feasible point of its set (so its error is never
below :math:`\operatorname{dist}(w,Q)^2`) but usually not the nearest one. They return the same
:class:`theory.projection.Projection` record as :func:`theory.project` (``q``, ``scale``,
``codes`` = indices (dtype ``code_dtype``) into the named set's ``levels``, ``dist2``), per
tensor or per slice along ``axis`` (one scale per slice, same conventions as ``project``).

Measured error ratio :math:`\|w - q\|^2 / \operatorname{dist}(w, Q)^2` on Gaussian weights
(``numpy.random.default_rng(0).standard_normal(10**5)``, per tensor; reproduced by
``tests/theory/test_approximate.py``):

=============================  ================  ======  ========================================
function                       set Q             ratio   source
=============================  ================  ======  ========================================
``twn``                        Ternary()         1.007   TWN (Li & Liu 2016): Δ = 0.7 mean|w|
``binaryrelax_ternary``        Ternary()         1.758   BinaryRelax/BCGD code ``quantize_tnn``
``bcgd_fbit``                  Uniform(4)        2.452   BCGD code ``quantize_fbit``
``lloyd``                      Uniform(4)        1.688   Lloyd alternation, max init, 10 iters
``lloyd``                      Ternary()         1.000   (ratio 1.0000004)
``parq_uniform`` (b = 2)       Symmetric(2)      1.014   PARQ ``UnifQuantizer`` (mean scale)
``parq_uniform`` (b = 4)       Symmetric(4)      1.305   PARQ ``UnifQuantizer`` (mean scale)
``parq_lsbq_ternary``          Ternary()         1.844   PARQ ``LSBQuantizer(optimal=True)``, b=0
=============================  ================  ======  ========================================

Exact relative errors :math:`\operatorname{dist}^2/\|w\|^2` on this input: ternary 0.1919,
Uniform(4) 0.01307. ``bcgd_fbit`` depends on n through max|w|: its ratio is 1.82 at n = 2·10^4,
2.452 at 10^5 and 2.487 at 10^6 (same generator and seed). Population values (n → ∞, exact
Gaussian cell integrals with :func:`theory.gaussian_steps.cell_mse`, derived here and pinned by
``tests/docs/test_population_numbers.py``): relative error 0.1902 for the exact ternary
projection, 0.1916 for ``twn``, 0.3366 for ``binaryrelax_ternary``
(``docs/math/approximate-quantizers.md#ratios``).
"""

from __future__ import annotations

import numpy as np

from theory._validate import as_float_array, check_axis, check_int
from theory.projection import Projection, code_dtype, nearest_codes
from theory.sets import QuantSet, Symmetric, Ternary, Uniform

__all__ = [
    "twn",
    "binaryrelax_ternary",
    "bcgd_fbit",
    "lloyd",
    "parq_uniform",
    "parq_lsbq_ternary",
    "absmax",
]


def _rows(w: object, axis: object) -> tuple[np.ndarray, tuple, np.dtype, int | None]:
    arr = as_float_array(w, "w")
    ax = check_axis(axis, arr.ndim)
    if ax is None:
        return arr.astype(np.float64).reshape(1, -1), arr.shape, arr.dtype, None
    rows = np.moveaxis(arr, ax, 0).astype(np.float64).reshape(arr.shape[ax], -1)
    return rows, arr.shape, arr.dtype, ax


def _result(
    rows: np.ndarray, alpha: np.ndarray, codes: np.ndarray, levels: np.ndarray,
    shape: tuple, dtype: np.dtype, ax: int | None,
) -> Projection:
    q = alpha[:, None] * levels[codes]
    codes = codes.astype(code_dtype(len(levels)))
    dist2 = np.einsum("ij,ij->i", rows - q, rows - q)
    if ax is None:
        return Projection(q.reshape(shape).astype(dtype), float(alpha[0]),
                          codes.reshape(shape), float(dist2[0]))
    moved = (shape[ax],) + tuple(s for i, s in enumerate(shape) if i != ax)
    q = np.moveaxis(q.reshape(moved), 0, ax).astype(dtype)
    return Projection(q, alpha, np.moveaxis(codes.reshape(moved), 0, ax), dist2)


def _ternary_codes(rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Indices into Ternary().levels = (-1, 0, 1): sign on kept entries, 0 elsewhere."""
    return np.where(keep, np.where(rows >= 0, 2, 0), 1).astype(np.int64)


def twn(w: object, axis: int | None = None) -> Projection:
    r"""Ternary Weight Networks' approximate ternarization (APPROXIMATE).

    :math:`\Delta = 0.7\,\mathrm{mean}|w|`, :math:`I = \{i: |w_i| > \Delta\}`,
    :math:`\alpha = \mathrm{mean}_{i \in I}|w_i|`, :math:`q = \alpha\,\mathrm{sign}(w)\,1_I`.
    Set: ``Ternary()``. Source: Li & Liu 2016 (TWN); ``docs/math/approximate-quantizers.md#twn``. On
    Gaussian weights its population relative error is 0.1916 against 0.1902 for the exact
    projection (exact Gaussian integrals, derived here). Measured ratio to the exact projection:
    1.007 (module table).
    """
    rows, shape, dtype, ax = _rows(w, axis)
    a = np.abs(rows)
    keep = a > 0.7 * a.mean(axis=1, keepdims=True)
    cnt = keep.sum(axis=1)
    alpha = np.where(cnt > 0, (a * keep).sum(axis=1) / np.maximum(cnt, 1), 0.0)
    return _result(rows, alpha, _ternary_codes(rows, keep), Ternary().levels, shape, dtype, ax)


def binaryrelax_ternary(w: object, axis: int | None = None) -> Projection:
    r"""The released BinaryRelax/BCGD code's ternary quantizer ``quantize_tnn`` (APPROXIMATE).

    Code-faithful port of ``penhunt/binaryrelax`` ``util/quant.py`` (also BCGD ``quant=2``):
    ``delta = min(0.7*|w|.mean(), 100)``, ``index = |w| >= delta``,
    ``scale = (|w|*index).mean()`` — the sum over the kept entries divided by **n**, not by their
    count, so the scale is too small by the factor |I|/n (0.5765 for Gaussian weights).
    Set: ``Ternary()``. Measured ratio: 1.758 (module table); population relative error 0.3366
    against 0.1902 exact, ratio 1.770 (exact Gaussian integrals, derived here;
    ``docs/math/approximate-quantizers.md#quantize-tnn``).
    """
    rows, shape, dtype, ax = _rows(w, axis)
    a = np.abs(rows)
    delta = np.minimum(0.7 * a.mean(axis=1, keepdims=True), 100.0)
    keep = a >= delta
    alpha = (a * keep).mean(axis=1)
    return _result(rows, alpha, _ternary_codes(rows, keep), Ternary().levels, shape, dtype, ax)


def bcgd_fbit(w: object, axis: int | None = None) -> Projection:
    r"""The released BCGD code's 4-bit weight quantizer ``quantize_fbit`` (APPROXIMATE).

    Set ``Uniform(4)`` = :math:`\alpha\{-7..7\}`. With :math:`\delta = \max|w|/15`:
    :math:`k_i = 0` if :math:`|w_i| \le \delta`, :math:`k` if :math:`(2k-1)\delta < |w_i| \le
    (2k+1)\delta` (k = 1..6), 7 if :math:`|w_i| > 13\delta`; then one least-squares refit
    :math:`\alpha = \sum |w_i| k_i / \sum k_i^2` (no iteration). Source: BCGD released code
    (penhunt/full-quantization-DNN ``BCGD_cifar/util/quant.py``, ``quant=4``;
    ``docs/math/approximate-quantizers.md#quantize-fbit``). Measured on N(0, 1) weights (seed 0):
    relative error 0.0320 against 0.01307 exact at n = 10^5 (ratio 2.452), 0.0238 against 0.01307 at
    n = 2·10^4 (ratio 1.82): the ratio grows with n because the step 2 max|w|/15 does.
    """
    rows, shape, dtype, ax = _rows(w, axis)
    a = np.abs(rows)
    delta = a.max(axis=1, keepdims=True) / 15.0
    # k = #{j in 1..7 : |w| > (2j-1) delta}: the intervals ((2k-1)δ, (2k+1)δ] are right-closed
    k = np.zeros(rows.shape)
    for j in range(1, 8):  # seven thresholds (a loop over levels, not over entries)
        k += a > (2 * j - 1) * delta
    s2 = np.sum(k * k, axis=1)
    alpha = np.where(s2 > 0, np.sum(a * k, axis=1) / np.where(s2 > 0, s2, 1.0), 0.0)
    codes = (7 + np.where(rows >= 0, k, -k)).astype(np.int64)
    return _result(rows, alpha, codes, Uniform(4).levels, shape, dtype, ax)


def lloyd(w: object, qset: QuantSet, axis: int | None = None, iters: int = 10) -> Projection:
    r"""Lloyd-type alternation between codes and scale (APPROXIMATE; a local method).

    From :math:`\alpha_0 = \max|w| / \max|L|` ("max" init) repeat ``iters`` times:
    :math:`z \leftarrow` nearest levels of :math:`w/\alpha` (the projection's tie rule),
    :math:`\alpha \leftarrow \langle w,z\rangle_+/\|z\|^2`. Each step lowers the error, but the
    fixed point can be a local minimum. Source: the STE paper's "variant of Lloyd's algorithm" (Yin
    et al. 2019b, citing Lloyd 1982; which variant and initialisation is not stated in what was
    read; ``docs/math/approximate-quantizers.md#lloyd``). Measured ratio on the module's Gaussian
    input: 1.688 for ``Uniform(4)`` (the max init stalls at a poor fixed point), 1.0000004 for
    ``Ternary()``.

    Args:
        qset: a free-scale set (``qset.scale is None``). iters: >= 1.
    """
    if not isinstance(qset, QuantSet):
        raise TypeError(f"qset must be a theory.sets.QuantSet, got {type(qset).__name__}")
    if qset.scale is not None:
        raise ValueError("lloyd needs a free-scale set (qset.scale is None)")
    iters = check_int(iters, "iters", 1, 10_000)
    rows, shape, dtype, ax = _rows(w, axis)
    lv = qset.levels
    alpha = np.max(np.abs(rows), axis=1) / np.max(np.abs(lv))
    zero = nearest_codes(np.zeros(1), lv)[0]
    for _ in range(iters):
        safe = np.where(alpha > 0, alpha, 1.0)[:, None]
        codes = np.where(alpha[:, None] > 0, nearest_codes(rows / safe, lv), zero)
        z = lv[codes]
        s1, s2 = np.sum(rows * z, axis=1), np.sum(z * z, axis=1)
        alpha = np.where((s2 > 0) & (s1 > 0), s1 / np.where(s2 > 0, s2, 1.0), 0.0)
    codes = np.where(alpha[:, None] > 0, codes, zero)
    return _result(rows, alpha, codes, lv, shape, dtype, ax)


def parq_uniform(w: object, bits: int, axis: int | None = None) -> Projection:
    r"""PARQ's ``UnifQuantizer`` with its default heuristic scale (APPROXIMATE).

    Port of ``facebookresearch/parq`` ``parq/quant/uniform.py`` (``scale_method='mean'``,
    ``int_shift = zero_point = 0.5``, no centering): :math:`q_{max} = \min(b\,\mathrm{mean}|w|,
    \max|w|)`, clamp w to :math:`[-q_{max}, q_{max}]`, step :math:`s = q_{max}/(2^{b-1}-\tfrac12)`,
    :math:`q = s(\mathrm{round}(w/s - \tfrac12) + \tfrac12)` with round-half-to-even (torch.round).
    Set: ``Symmetric(bits)`` (half-integer levels), scale = s. Measured ratio to the exact
    projection (module table): 1.014 (b=2), 1.305 (b=4);
    ``docs/math/approximate-quantizers.md#parq-uniform``.
    """
    bits = check_int(bits, "bits", 1, 16)
    rows, shape, dtype, ax = _rows(w, axis)
    a = np.abs(rows)
    q_max = np.maximum(np.minimum(bits * a.mean(axis=1), a.max(axis=1)),
                       np.finfo(np.float64).tiny)[:, None]
    s = q_max / (2 ** (bits - 1) - 0.5)
    k = np.round(np.clip(rows, -q_max, q_max) / s - 0.5)  # integer j with level j + 1/2
    codes = (k + 2 ** (bits - 1)).astype(np.int64)
    codes = np.clip(codes, 0, 2**bits - 1)
    return _result(rows, s[:, 0], codes, Symmetric(bits).levels, shape, dtype, ax)


def parq_lsbq_ternary(w: object) -> Projection:
    r"""PARQ's ``LSBQuantizer(optimal=True)`` ternary (b = 0), per-tensor branch (APPROXIMATE).

    Port of ``facebookresearch/parq`` ``parq/quant/lsbq.py`` ``quantize_optimal_ternary``
    (``dim=None``, commit 6c24849). With :math:`u` = sorted |w| and
    :math:`v_i = \tfrac12\,\mathrm{mean}(u_{i+1:})` the candidates are the "feasible"
    :math:`u_i \le v_i < u_{i+1}` (plus :math:`\tfrac12\mathrm{mean}\,u` if below :math:`u_0`);
    each is scored with **levels ±v and thresholds ±v/2** (``torch.bucketize``, right=False:
    :math:`-v/2 < w \le v/2 \mapsto 0`), and the best (strictly below ||w||, else q = 0) is kept.
    The optimum for this threshold would use levels ±2v (as its per-channel branch does), so the
    levels are half the least-squares scale (``docs/math/approximate-quantizers.md#parq-lsbq``).
    Set ``Ternary()``, scale = v. Measured ratio: 1.844.
    """
    arr = as_float_array(w, "w")
    p = arr.astype(np.float64).ravel()
    u = np.sort(np.abs(p))
    n = u.size
    cs = np.cumsum(u)
    cands = []
    if cs[-1] / n / 2 < u[0]:
        cands.append(cs[-1] / n / 2)
    if n > 1:
        i = np.arange(n - 1)
        v = (cs[-1] - cs[i]) / (n - (i + 1)) / 2
        cands.extend(v[(v >= u[i]) & (v < u[i + 1])].tolist())
    best_err, best_v, best_codes = np.linalg.norm(p), 0.0, np.ones(n, dtype=np.int64)
    for v in cands:  # the feasible fixed points: a handful
        codes = np.where(p > v / 2, 2, np.where(p > -v / 2, 1, 0)).astype(np.int64)
        err = np.linalg.norm(p - v * (codes - 1.0))
        if err < best_err:
            best_err, best_v, best_codes = err, float(v), codes
    return _result(p[None, :], np.array([best_v]), best_codes[None, :], Ternary().levels,
                   arr.shape, arr.dtype, None)


def absmax(w: object, qset: QuantSet, axis: int | None = None,
           group_size: int | None = None) -> Projection:
    r"""The absmax rule (APPROXIMATE): scale :math:`\alpha = \max_i |w_i| / \max_j |l_j|` per
    block, codes the nearest levels of :math:`w/\alpha` (tie rule of :mod:`theory.coding`).

    For ``NF4()`` (levels in [-1, 1]) this is QLoRA's NF4 quantization with its absmax
    constant per block of 64 (Dettmers et al. 2023, Sec. 3; bitsandbytes ``quantize_4bit``); for
    ``Int(8)`` it is :math:`\max|w|/128` (torch's symmetric int8 observers use 127.5 or 127: a
    different constant, the same kind of rule). A feasible point of the free-scale set, not its
    projection: measured against :func:`theory.project` in ``tests/theory/test_new_sets.py``.
    ``qset`` must have a level table (not ``Affine``); its scale must be free. ``group_size``
    as in :func:`theory.project`.
    """
    from theory.groups import block_values, check_group_size, from_blocks, to_blocks
    from theory.sets import Affine

    if isinstance(qset, Affine) or qset.scale is not None:
        raise ValueError(f"absmax needs a free-scale set with one level table, got {qset.spec}")
    rows, shape, dtype, ax = _rows(w, axis)
    g = check_group_size(group_size)
    L = qset.levels
    top = float(np.max(np.abs(L)))

    def solve(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        alpha = np.max(np.abs(r), axis=1) / top
        safe = np.where(alpha > 0, alpha, 1.0)[:, None]
        codes = np.where(alpha[:, None] > 0, nearest_codes(r / safe, L),
                         nearest_codes(np.zeros(1), L)[0])
        return codes, alpha, alpha[:, None] * L[codes]

    C = rows.shape[0]
    if g is None or g >= rows.shape[1]:
        codes, alpha, q = solve(rows)
        if g is not None:
            alpha = alpha[:, None]
    else:
        full, tail = to_blocks(rows, g)
        cf, af, qf = solve(full)
        ct, at, qt = solve(tail) if tail is not None else (None, None, None)
        codes, q = from_blocks(cf, ct, C), from_blocks(qf, qt, C)
        alpha = block_values(af, at, C)
    d = rows - q
    if g is None:
        d2 = np.sum(d * d, axis=1)
    else:
        n = rows.shape[1]
        nb = alpha.shape[1]
        pad = np.zeros((C, nb * min(g, n) - n)) if nb * min(g, n) > n else np.zeros((C, 0))
        d2 = np.sum(np.concatenate([d * d, pad], axis=1).reshape(C, nb, -1), axis=2)
    codes = codes.astype(code_dtype(len(L)))
    q_out = q.astype(dtype)
    if ax is None:
        codes, q_out = codes.reshape(shape), q_out.reshape(shape)
        if g is None:
            return Projection(q_out, float(alpha[0]), codes, float(d2[0]))
        return Projection(q_out, alpha[0], codes, d2[0])
    moved = (shape[ax],) + tuple(s for i, s in enumerate(shape) if i != ax)
    return Projection(np.moveaxis(q_out.reshape(moved), 0, ax), alpha,
                      np.moveaxis(codes.reshape(moved), 0, ax), d2)
