r"""The hot path: one call projects a whole group of tensors (same set, axis, dtype, device).

.. math:: q_T = P_Q(w_T) \quad\text{for every tensor } T \text{ of the group (per slice along axis)}

:func:`project_group` chooses a path per tensor, from its set and row length:

* CPU, a symmetric free-scale set and rows of at least
  :func:`qopt.projection.pruned.min_row` entries: the rows of all such tensors (one row per
  tensor, or one per slice along ``axis``) are laid back to back in one flat buffer and each
  stage runs once for all of them: the bucket summary and the certified search
  (:mod:`qopt.projection.pruned`, warm-started by ``hints``), codes, refit and values from the
  summary (:mod:`qopt.projection.finish`), written straight into the outputs. The host reads the
  data-dependent window sizes (free on CPU);
* every other tensor, and every tensor on CUDA (or any non-CPU device): the sync-free torch
  paths of :func:`qopt.projection.project.rows_torch` (closed form, top-t scan, full sweep),
  tensor by tensor, with no host-device synchronisation.

The result is bitwise the same as :func:`qopt.projection.project` on each tensor (same code
paths; a row's arithmetic never depends on the other rows of the group, nor on the hints).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from qopt.projection.binary import binary_sums
from qopt.projection.codes import from_rows, to_rows
from qopt.projection.flat import coder
from qopt.projection.tables import codes_dtype, compute_dtype, is_binary, symmetric_events
from qopt.projection.workspace import Workspace
from theory.sets import QuantSet

__all__ = ["GroupProjection", "ProjectionStats", "Workspace", "project_group", "scales_flat"]


@dataclass(frozen=True)
class ProjectionStats:
    """What one call did (plain ints; summed over calls by the caller).

    Attributes:
        rows: rows projected (tensors, or slices along ``axis``).
        searched: rows whose scale came from the certified search (CPU, symmetric sets).
        certified: of those, rows where the warm-start certificate held at the first grid
            (the previous scale's neighbourhood was proven to hold the optimum).
        extracted: entries read again for the exact window scans (the search's cost).
        fallback: rows solved by a sort-based exact search (short rows, asymmetric sets, CUDA).
    """

    rows: int = 0
    searched: int = 0
    certified: int = 0
    extracted: int = 0
    fallback: int = 0

    def __add__(self, other: ProjectionStats) -> ProjectionStats:
        return ProjectionStats(*(a + b for a, b in zip(self, other)))  # type: ignore[call-overload]

    def __iter__(self):
        return iter((self.rows, self.searched, self.certified, self.extracted, self.fallback))


class GroupProjection(NamedTuple):
    """Result of :func:`project_group`: per tensor, its scale(s) and codes; and statistics.

    ``scales[t]``: 0-d (``axis=None``) or (C,), compute dtype (float64 for float64 input, else
    float32). ``codes[t]``: same shape as the tensor, int8 up to 127 levels (int16, int32
    beyond), indices into ``qset.levels`` with ``out[t] == scale * levels[codes]``.
    """

    scales: list[Tensor]
    codes: list[Tensor]
    stats: ProjectionStats


def scales_flat(blocks: list, starts: np.ndarray, qset: QuantSet, hint: np.ndarray | None,
                ws: Workspace, top: np.ndarray | None = None
                ) -> tuple[np.ndarray, ProjectionStats, object]:
    """Sweep scale (float64) of every row by the certified search (symmetric set, long rows,
    in range); ``ws["u"]`` holds |w| (flat); ``top``: the rows' maxima of u, if known."""
    from qopt.projection.pruned import certified_scales

    R = len(starts) - 1
    u = ws.get("u", int(starts[-1]), np.float64)
    alpha, rec = certified_scales(u, starts, symmetric_events(qset), hint, ws, top=top)
    st = ProjectionStats(rows=R, searched=R, certified=int(rec.held.sum()),
                         extracted=int(rec.extracted))
    return alpha, st, rec


#: rows up to which :func:`_values` loops per row (see :data:`qopt.projection.summary._LOOP_ROWS`)
_LOOP_ROWS = 16


def _values(codes: np.ndarray, starts: np.ndarray, alpha: np.ndarray, c, q: np.ndarray,
            a0: int = 0) -> None:
    """q = alpha_r * levels[codes] for the rows r of ``starts`` (q and codes offset by a0)."""
    dt = q.dtype.type
    k = len(c.levels)
    R = len(starts) - 1
    if R > _LOOP_ROWS:  # many rows: the same roundings with per-entry factors, no row loop
        n = np.diff(starts)
        seg = slice(starts[0] - a0, starts[-1] - a0)
        if c.kind == "generic":
            table = (alpha.astype(dt)[:, None] * c.levels.astype(dt)[None, :]).astype(dt)
            rows = np.repeat(np.arange(R, dtype=np.int64) * k, n)
            np.take(table.ravel(), rows + codes[seg], out=q[seg])
        else:
            np.subtract(codes[seg], dt((k - 1) / 2.0), out=q[seg], casting="unsafe")
            np.multiply(q[seg], np.repeat(alpha.astype(dt) * dt(c.d), n), out=q[seg])
        return
    for r in range(R):
        a, b = starts[r] - a0, starts[r + 1] - a0
        if c.kind == "generic":
            np.take((dt(alpha[r]) * c.levels.astype(dt)).astype(dt), codes[a:b], out=q[a:b])
        else:  # levels (code - (k-1)/2) d: exact small multiples of d, one rounding
            # the offset in q's dtype: the int8 codes then take the float32 loop directly
            # (a Python float would select the float64 loop and a buffered cast; same values)
            np.subtract(codes[a:b], dt((k - 1) / 2.0), out=q[a:b], casting="unsafe")
            np.multiply(q[a:b], dt(alpha[r]) * dt(c.d), out=q[a:b])


class _Block(NamedTuple):
    """One tensor's rows in the flat index space: [a, b), its rows r0..r1, a 1-D view of w."""

    a: int
    b: int
    r0: int
    r1: int
    w: np.ndarray


def _finish(blocks: list[_Block], starts: np.ndarray, alpha: np.ndarray, qset: QuantSet, rec,
            codes: np.ndarray, qs: list[np.ndarray], ws: Workspace) -> np.ndarray:
    """Codes (into ``codes``), values (into ``qs``, one 1-D array per block) and the refitted
    scales (float64, returned), from the certified search's summary
    (:mod:`qopt.projection.finish`)."""
    from qopt.projection.finish import bucket_codes

    c = coder(qset)
    N = int(starts[-1])
    E_ = len(c.mids[c.mids > 0])
    mag, alpha, info = bucket_codes(alpha, rec.summary, rec.window, c, blocks[0].w.dtype,
                                    ws.get("u", N, np.float64),
                                    ws.get("mag", N, np.int8 if E_ < 127 else np.int32))
    E, zeta = info["E"], info["zeta"]
    # code = E + zeta + mag for w >= 0 and E - mag for w < 0 (-0.0 counts as >= 0)
    neg = ws.get("neg", N, np.bool_)
    t = ws.get("t", N, mag.dtype)
    for blk in blocks:
        np.less(blk.w, 0, out=neg[blk.a:blk.b])
    np.multiply(mag, 2, out=t)
    t += zeta
    t *= neg
    np.add(mag, E + zeta, out=codes, casting="unsafe")
    np.subtract(codes, t, out=codes, casting="unsafe")
    for r in np.flatnonzero(alpha <= 0):  # the zero point
        codes[starts[r]:starts[r + 1]] = c.zero
    for blk, q in zip(blocks, qs):
        _values(codes[blk.a:blk.b], starts[blk.r0:blk.r1 + 1], alpha[blk.r0:blk.r1], c, q,
                blk.a)
    return alpha


def project_group(ws: Sequence[Tensor], qset: QuantSet, axis: int | None = None, *,
                  out: Sequence[Tensor] | None = None, hints: Sequence[Tensor] | None = None,
                  workspace: Workspace | None = None, record: dict | None = None,
                  check: bool = True, group_size: int | None = None) -> GroupProjection:
    r"""Project every tensor of a group onto ``qset``; write :math:`P_Q(w_T)` into ``out[T]``.

    Args:
        ws: tensors of one dtype and device, floating and finite (CPU: checked for free on the
            row maxima; CUDA: not checked, that would need a host sync).
        qset: the group's set. axis: None (one scale per tensor) or the axis with one scale per
            slice (normalised, non-negative).
        out: tensors of the same shapes and dtype to receive the projections (may be ``ws``
            itself); None: new tensors.
        hints: the previous call's ``scales`` (warm start of the certified search; any value,
            the result is bitwise the same).
        workspace: reused CPU buffers (:class:`qopt.projection.workspace.Workspace`; about 20
            bytes per weight); the returned scales and codes never alias it.
        record: filled with the search record (``"search"``) and the row layout, for
            certificates.
        check: on CPU, a row with NaN or Inf raises ValueError; with ``check=False`` (the
            optimizer, which has its own non-finite policy) such a row gets scale NaN, q NaN and
            the zero code, and the other rows are unaffected.

        group_size: None, or g >= 1: one scale per block of g consecutive entries of each row
            (:func:`qopt.projection.blocks.project_group_blocks`, which an affine set also
            takes; then the result also has ``zero_points``).

    Returns:
        :class:`GroupProjection` ``(scales, codes, stats)``.
    """
    from theory.sets import Affine

    if group_size is not None or isinstance(qset, Affine):
        from qopt.projection.blocks import project_group_blocks

        return project_group_blocks(ws, qset, axis, group_size, out=out,  # type: ignore
                                    hints=hints, workspace=workspace, check=check)
    ws = list(ws)
    if not ws:
        return GroupProjection([], [], ProjectionStats())
    dtype, device = ws[0].dtype, ws[0].device
    cd = compute_dtype(dtype)
    outs = list(out) if out is not None else [torch.empty_like(w) for w in ws]
    cdt = codes_dtype(qset.n_levels)
    if device.type != "cpu":
        return _group_torch(ws, qset, axis, outs, hints, cd, cdt, check=False)
    from qopt.projection.pruned import min_row

    rows = [to_rows(w.detach(), axis, cd) for w in ws]
    ev = symmetric_events(qset)
    cert = [ev is not None and r.shape[1] >= min_row(len(ev.mids)) for r in rows]
    if not all(cert):  # the path is chosen per tensor (set and row length)
        if not any(cert):
            return _group_torch(ws, qset, axis, outs, hints, cd, cdt, check)
        parts = [[i for i, f in enumerate(cert) if f == flag] for flag in (True, False)]
        subs = [project_group([ws[i] for i in p], qset, axis, out=[outs[i] for i in p],
                              hints=None if hints is None else [hints[i] for i in p],
                              workspace=workspace, record=record, check=check)
                if k == 0 else _group_torch([ws[i] for i in p], qset, axis,
                                            [outs[i] for i in p], None, cd, cdt, check)
                for k, p in enumerate(parts)]
        scales, codes = [None] * len(ws), [None] * len(ws)
        for p, sub in zip(parts, subs):
            for i, a, c in zip(p, sub.scales, sub.codes):
                scales[i], codes[i] = a, c
        return GroupProjection(scales, codes, subs[0].stats + subs[1].stats)
    workspace = workspace or Workspace()
    row_n = np.concatenate([np.full(r.shape[0], r.shape[1], dtype=np.int64) for r in rows])
    starts = np.concatenate([[0], np.cumsum(row_n)])
    N = int(starts[-1])
    npd = np.float64 if cd == torch.float64 else np.float32
    blocks, a, r0 = [], 0, 0
    for r in rows:  # 1-D views of each tensor's rows (a copy only for a permuted axis)
        wv = r.contiguous().numpy().reshape(-1)
        blocks.append(_Block(a, a + wv.shape[0], r0, r0 + r.shape[0], wv))
        a, r0 = a + wv.shape[0], r0 + r.shape[0]
    hint = None
    if hints is not None:
        hint = np.concatenate([h.detach().reshape(-1).double().cpu().numpy() for h in hints])
    u = workspace.get("u", N, np.float64)
    for blk in blocks:
        np.abs(blk.w, out=u[blk.a:blk.b])
    # rows outside the safe range: scaled by a power of two (exact), scaled back at the end
    from qopt.projection.project import SAFE_EXP

    top = np.maximum.reduceat(u, starts[:-1])
    bad = ~np.isfinite(top)  # NaN and inf propagate to the row maximum: a free check
    if bad.any():
        if check:
            raise ValueError("w must be finite, found NaN or Inf")
        for r in np.flatnonzero(bad):  # searched as zero rows, reported as NaN below
            u[starts[r]:starts[r + 1]] = 0.0
        top = np.where(bad, 0.0, top)
    _, e = np.frexp(top)
    lo, hi = SAFE_EXP[cd]
    scale_e = np.where((top > 0) & ((e <= lo) | (e > hi)) & (qset.scale is None), e, 0)
    if scale_e.any():
        blocks = [blk._replace(w=blk.w.copy()) for blk in blocks]
        for blk in blocks:
            for r in range(blk.r0, blk.r1):
                if scale_e[r]:
                    seg = blk.w[starts[r] - blk.a:starts[r + 1] - blk.a]
                    np.ldexp(seg, -int(scale_e[r]), out=seg)
            np.abs(blk.w, out=u[blk.a:blk.b])
        if hint is not None:
            hint = np.ldexp(hint, -scale_e)
    with np.errstate(invalid="ignore"):  # non-finite rows (check=False): zeroed below
        alpha, stats, rec = scales_flat(blocks, starts, qset, hint, workspace,
                                        top=None if scale_e.any() else top)
    alpha = np.where(bad, 0.0, alpha)
    cnp = torch.empty(0, dtype=cdt).numpy().dtype
    codes_flat = np.empty(N, dtype=cnp)  # returned: its own memory (1 byte per weight)
    # values straight into the outputs where they are plain contiguous views of the rows
    direct = [axis in (None, 0) and o.dtype == cd and o.is_contiguous() and not scale_e.any()
              for o in outs]
    qbuf = workspace.get("q", N, npd)
    qs = [o.detach().numpy().reshape(-1) if d else qbuf[blk.a:blk.b]
          for o, d, blk in zip(outs, direct, blocks)]
    with np.errstate(invalid="ignore"):
        alpha = _finish(blocks, starts, alpha, qset, rec, codes_flat, qs, workspace)
    if scale_e.any():
        with np.errstate(over="ignore"):  # inf: project() reports it
            alpha = np.ldexp(alpha, scale_e)
        for blk, q in zip(blocks, qs):
            for r in range(blk.r0, blk.r1):
                if scale_e[r]:
                    seg = q[starts[r] - blk.a:starts[r + 1] - blk.a]
                    with np.errstate(over="ignore"):
                        np.ldexp(seg, int(scale_e[r]), out=seg)
    if bad.any():
        alpha = np.where(bad, np.nan, alpha)
        for blk, q in zip(blocks, qs):
            for r in range(blk.r0, blk.r1):
                if bad[r]:
                    q[starts[r] - blk.a:starts[r + 1] - blk.a] = np.nan
                    codes_flat[starts[r]:starts[r + 1]] = coder(qset).zero
    if record is not None:
        record.update(search=rec, starts=starts, blocks=blocks, alpha=alpha)
    scales, codes = [], []
    a_t = torch.from_numpy(alpha.astype(npd))
    c_t = torch.from_numpy(codes_flat)
    for w, r, o, d, blk, q in zip(ws, rows, outs, direct, blocks, qs):
        sc = a_t[blk.r0:blk.r1]
        scales.append(sc.clone() if axis is not None else sc[0].clone())
        if not d:
            o.copy_(from_rows(torch.from_numpy(q).reshape(r.shape), w.shape, axis))
        codes.append(from_rows(c_t[blk.a:blk.b].reshape(r.shape), w.shape, axis))
    return GroupProjection(scales, codes, stats)


#: CPU rows shorter than this are projected together with every other row of their length (one
#: call of the torch path per length): torch splits no reduction of fewer entries across threads
#: (its grain size, 32768), so a row's sums have the same bits alone or stacked (checked in
#: tests/qopt/test_projection_batched.py); longer rows go one tensor at a time.
STACK_MAX = 32768


def _group_torch(ws: list[Tensor], qset: QuantSet, axis: int | None, outs: list[Tensor],
                 hints: Sequence[Tensor] | None, cd: torch.dtype, cdt: torch.dtype,
                 check: bool = True) -> GroupProjection:
    """The sync-free torch paths (:func:`qopt.projection.project.rows_torch`): any device, and
    on CPU the tensors that do not take the certified search. On CPU, rows shorter than
    :data:`STACK_MAX` are stacked by length (one call per length instead of one per tensor: the
    per-call overhead dominates short rows); the result is bitwise that of one call per tensor."""
    from qopt.projection.project import gather_levels, rows_torch
    from qopt.projection.tables import _tables

    scales: list = [None] * len(ws)
    codes: list = [None] * len(ws)
    R = 0
    stacks: dict[int, list[tuple[int, Tensor]]] = {}
    for i, (w, o) in enumerate(zip(ws, outs)):
        rows = to_rows(w.detach(), axis, cd)
        R += rows.shape[0]
        cpu = w.device.type == "cpu"
        if is_binary(qset) and cpu:  # closed form, three passes
            s = binary_sums(rows)
            if bool(torch.isfinite(s).all()):  # finite input, no overflow: sign and mean
                alpha = s / rows.shape[1]
                if axis is None and w.dtype == cd and o.is_contiguous():
                    _signed(w, alpha[0], o)
                else:
                    o.copy_(from_rows(_signed(rows, alpha[:, None]), w.shape, axis))
                scales[i] = alpha if axis is not None else alpha[0]
                codes[i] = from_rows((rows >= 0).to(cdt), w.shape, axis)
                continue
        if cpu and rows.shape[1] < STACK_MAX:
            stacks.setdefault(rows.shape[1], []).append((i, rows))
            continue
        if check and cpu and not bool(torch.isfinite(rows).all()):
            raise ValueError("w must be finite, found NaN or Inf")
        alpha, c = rows_torch(rows, qset)
        levels = _tables(qset, cd, w.device)["levels"]
        o.copy_(from_rows(alpha[:, None] * gather_levels(levels, c), w.shape, axis))
        scales[i] = alpha if axis is not None else alpha[0]
        codes[i] = from_rows(c.to(cdt), w.shape, axis)
    for items in stacks.values():
        rows = torch.cat([r for _, r in items]) if len(items) > 1 else items[0][1]
        if check and not bool(torch.isfinite(rows).all()):
            raise ValueError("w must be finite, found NaN or Inf")
        alpha, c = rows_torch(rows, qset)
        q = alpha[:, None] * gather_levels(_tables(qset, cd, rows.device)["levels"], c)
        c = c.to(cdt)
        a = 0
        for i, r in items:
            b = a + r.shape[0]
            w = ws[i]
            outs[i].copy_(from_rows(q[a:b], w.shape, axis))
            scales[i] = alpha[a:b].clone() if axis is not None else alpha[a].clone()
            codes[i] = from_rows(c[a:b], w.shape, axis)
            a = b
    return GroupProjection(scales, codes, ProjectionStats(rows=R, fallback=R))


def _signed(w: Tensor, alpha: Tensor, out: Tensor | None = None) -> Tensor:
    """alpha where w >= 0 (0 and -0.0 included: the tie rule), -alpha where w < 0, for finite
    w: alpha (1 - 2[w < 0]), exact (``torch.where`` with 0-d operands is several times slower
    on CPU). ``alpha`` broadcasts against w."""
    out = torch.lt(w, 0, out=out) if out is not None else torch.lt(w, 0).to(alpha.dtype)
    return out.mul_(-2.0).add_(1.0).mul_(alpha)
