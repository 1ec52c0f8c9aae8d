r"""A checkable record of one certified projection: what was bounded, excluded and searched.

The certified search (:mod:`qopt.projection.pruned`) proves where the optimal scale lies:

1. a bucket summary of :math:`u = |w|` (count and sum per bucket of width :math:`2^{e-B}`);
2. per grid round, intervals :math:`[a_p, b_p]` partitioning :math:`(0, \infty)`, each with an
   upper bound :math:`\bar V_p` of the sweep value over the interval
   (:mod:`qopt.projection.bounds`), and :math:`\underline V`, the value of an attainable state
   (the D or H state of a named interval); intervals with
   :math:`\bar V_p < \underline V(1 - \tau)` are excluded;
3. the window :math:`[lo, hi]` (what no round excluded) and the state chosen by the exact scan
   of the window, "every key :math:`\ge \kappa`", whose refitted scale is the result.

A :class:`Certificate` holds all of it with the input row, so that a verifier can replay each
step from the data alone: :func:`proofs_check.certificate.verify_certificate` (and
``qopt verify certificate FILE``) recompute the summary, every bound, the attainable value and the
coverage independently, and compare the window and the scale with :mod:`theory`'s exact sweep.

File format (``to_bytes``/``from_bytes``): a numpy ``.npz`` archive without pickled objects
(read with ``allow_pickle=False``): arrays ``w`` (float64), ``counts``, ``sums``, per round r
``a{r}``, ``b{r}``, ``vub{r}``, ``keep{r}``, and ``meta`` (UTF-8 JSON bytes: version, set spec,
dtype, B, e, shift, tau, rounds, vlb per round and its state, lo, hi, kappa, scale, held, hint).
Write it with an atomic writer (e.g. ``qopt.train.io.atomic_write_bytes(path,
cert.to_bytes())``).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from qopt.projection.tables import compute_dtype, symmetric_events
from theory.sets import QuantSet

__all__ = ["Certificate", "certify", "VERSION"]

VERSION = 1


@dataclass(frozen=True)
class Certificate:
    """One row's certified search (module docstring). Values are float64.

    Attributes:
        qset: the set's spec (``theory.sets.parse_qset`` reads it back).
        dtype: compute dtype of the search ("float32" or "float64": the dtype of
            :math:`\\mathrm{fl}(w/\\alpha)`).
        w: the row (float64, exactly the input values).
        shift: the row was multiplied by 2^-shift before the search (0 inside the safe range).
        B, e: 2^B buckets of width 2^(e - B) over [0, 2^e), 2^(e-1) <= max|w 2^-shift| < 2^e.
        counts, sums: the bucket summary of |w| 2^-shift.
        rounds: per grid round, ``{"a", "b", "vub", "keep", "vlb", "best", "best_is_D"}``.
        tau: relative tolerance of the exclusions.
        lo, hi: the searched window; kappa: the threshold of the chosen state.
        scale: the returned scale (compute dtype value, scaled back by 2^shift).
        held: the warm-start certificate held at the first grid; hint: the warm start used.
    """

    qset: str
    dtype: str
    w: np.ndarray
    shift: int
    B: int
    e: int
    counts: np.ndarray
    sums: np.ndarray
    rounds: tuple[dict, ...]
    tau: float
    lo: float
    hi: float
    kappa: float
    scale: float
    held: bool
    hint: float | None

    def to_bytes(self) -> bytes:
        """The ``.npz`` archive of the module docstring."""
        meta = {"version": VERSION, "qset": self.qset, "dtype": self.dtype, "shift": self.shift,
                "B": self.B, "e": self.e, "tau": self.tau, "lo": self.lo, "hi": self.hi,
                "kappa": self.kappa, "scale": self.scale, "held": self.held, "hint": self.hint,
                "rounds": [{"vlb": r["vlb"], "best": r["best"], "best_is_D": r["best_is_D"]}
                           for r in self.rounds]}
        arrays = {"w": self.w, "counts": self.counts, "sums": self.sums,
                  "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
        for i, r in enumerate(self.rounds):
            for k in ("a", "b", "vub", "keep"):
                arrays[f"{k}{i}"] = np.asarray(r[k])
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        """Read :meth:`to_bytes` output (no pickle). Raises ValueError on a malformed file."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(bytes(arrays["meta"]).decode("utf-8"))
            rounds = tuple({"a": arrays[f"a{i}"], "b": arrays[f"b{i}"],
                            "vub": arrays[f"vub{i}"], "keep": arrays[f"keep{i}"], **r}
                           for i, r in enumerate(meta["rounds"]))
            return cls(meta["qset"], meta["dtype"], arrays["w"], int(meta["shift"]),
                       int(meta["B"]), int(meta["e"]), arrays["counts"], arrays["sums"], rounds,
                       float(meta["tau"]), float(meta["lo"]), float(meta["hi"]),
                       float(meta["kappa"]), float(meta["scale"]), bool(meta["held"]),
                       meta["hint"])
        except (KeyError, ValueError, TypeError, OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a projection certificate: {exc}") from None


def certify(w: Tensor, qset: QuantSet, hint: float | None = None):
    """Project ``w`` (one scale for the whole tensor, CPU) and return ``(TorchProjection,
    Certificate)`` of its certified search.

    Raises:
        ValueError: the set has no certified search (fixed scale, ``Binary``'s closed form,
            asymmetric grids) or ``w`` is shorter than the search's minimum row; those
            projections are computed without a search to certify.
    """
    from qopt.projection.batched import project_group
    from qopt.projection.project import TorchProjection, project
    from qopt.projection.pruned import min_row

    ev = symmetric_events(qset)
    if ev is None:
        raise ValueError(f"{qset.spec}: no certified search for this set (fixed scale, the "
                         "binary closed form or an asymmetric grid)")
    if w.numel() < min_row(len(ev.mids)) or w.device.type != "cpu":
        raise ValueError(f"certify needs a CPU tensor of at least {min_row(len(ev.mids))} "
                         f"entries for {qset.spec}, got {w.numel()} on {w.device.type}")
    ref: TorchProjection = project(w, qset)
    rec: dict = {}
    hints = None if hint is None else [torch.tensor(float(hint))]
    res = project_group([w.detach().reshape(-1)], qset, hints=hints, record=rec)
    if not torch.equal(res.scales[0], ref.scale):  # the same path and bits, by construction
        raise RuntimeError("certify: the recorded search disagrees with project()")
    s = rec["search"]
    sm = s.summary
    nbr = 1 << int(sm.B[0])
    _, e = np.frexp(sm.top[0])
    blk = rec["blocks"][0]
    x = w.detach().reshape(-1).to(compute_dtype(w.dtype)).double().numpy()
    shift = 0 if np.array_equal(blk.w.astype(np.float64), x) else int(
        np.frexp(np.max(np.abs(x)))[1])
    rounds = tuple({"a": g["a"][0], "b": g["b"][0], "vub": g["vub"][0], "keep": g["keep"][0],
                    "vlb": float(g["vlb"][0]), "best": int(g["best"][0]),
                    "best_is_D": bool(g["best_is_D"][0])}
                   for g in s.grids if g["rows"][0])
    cd = "float64" if compute_dtype(w.dtype) == torch.float64 else "float32"
    tau = float(s.grids[0]["tau"][0]) if s.grids else 0.0
    cert = Certificate(qset.spec, cd, x, shift, int(sm.B[0]), int(e), sm.counts[0, :nbr].copy(),
                       sm.sums[0, :nbr].copy(), rounds, tau, float(s.lo[0]), float(s.hi[0]),
                       float(s.kappa[0]), float(ref.scale), bool(s.held[0]),
                       None if hint is None else float(hint))
    return ref, cert
