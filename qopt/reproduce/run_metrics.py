r"""Numbers read from a finished run's ``result.json`` (one definition each, used by every claim).

* :func:`final_acc` — test accuracy of the final network: ``result["final"]``, which is the
  evaluation after BatchNorm re-estimation at the quantized weights when the toolkit did it
  (then the number before it is ``result["final_raw"]``), else the last epoch's evaluation;
* :func:`raw_final_acc` — the last epoch's evaluation without re-estimation;
* :func:`last_k_mean` — mean of a per-epoch metric over the last k epochs (every epoch is
  evaluated on the exactly quantized weights): smooths the epoch-to-epoch swings of Phase II;
* :func:`final_train_loss` — training loss of the final network on the whole training set;
* :func:`plateau` — relative change of the training loss over the last ``frac`` of the epochs,
  :math:`(\ell_{E-1} - \ell_{E-1-k})/\ell_{E-1-k}` with k = ⌈frac·E⌉ (the per-epoch losses are
  full-training-set evaluations); "plateaued" when it is > −``rel_tol`` (the loss fell by less
  than ``rel_tol`` over that window).
"""

from __future__ import annotations

import math

__all__ = ["bn_recalibrated", "final_acc", "final_train_loss", "last_k_mean", "plateau",
           "raw_final_acc"]


def _final(result: dict) -> dict:
    fin = result.get("final")
    if not isinstance(fin, dict):
        raise ValueError(f"run {result.get('run_dir', '?')!r} has no 'final' record")
    return fin


def bn_recalibrated(result: dict) -> bool:
    """Whether the final evaluation followed a BatchNorm re-estimation: the ``final`` record's
    ``bn_recalibrated`` flag when the trainer writes one, else the presence of ``final_raw``."""
    fin = result.get("final")
    if isinstance(fin, dict) and "bn_recalibrated" in fin:
        return bool(fin["bn_recalibrated"])
    return isinstance(result.get("final_raw"), dict)


def final_acc(result: dict) -> float:
    return float(_final(result)["test_acc"])


def raw_final_acc(result: dict) -> float:
    raw = result.get("final_raw")
    return float((raw if isinstance(raw, dict) else _final(result))["test_acc"])


def final_train_loss(result: dict) -> float:
    fin = _final(result)
    if fin.get("train_loss") is None:
        fin = result["history"][-1]
    return float(fin["train_loss"])


def last_k_mean(result: dict, k: int, key: str = "test_acc") -> float:
    """Mean of ``key`` over the last ``k`` epochs (all epochs if fewer)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    vals = [float(h[key]) for h in result["history"][-k:]]
    return math.fsum(vals) / len(vals)


def plateau(result: dict, frac: float = 0.2, rel_tol: float = 0.05) -> tuple[bool, float]:
    """(plateaued, relative change of the training loss over the last ``frac`` of training)."""
    losses = [float(h["train_loss"]) for h in result["history"]]
    if len(losses) < 2:
        return False, math.nan
    k = min(len(losses) - 1, max(1, math.ceil(frac * len(losses))))
    before, after = losses[-1 - k], losses[-1]
    rel = (after - before) / before if before > 0 else math.nan
    return bool(rel > -rel_tol), rel
