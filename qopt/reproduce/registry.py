"""The registry of reproducible claims: name -> :class:`~qopt.reproduce.claim.ClaimSpec`.

One module per claim under ``qopt/reproduce/claims/``, each defining ``SPEC``; the order of
:data:`CLAIM_MODULES` is the order of the report (claims without training first). Modules are
imported on first use (:func:`claims`), so ``qopt reproduce --help`` stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from qopt.reproduce.claim import ClaimSpec
from qopt.suggest import close_names

__all__ = ["CLAIM_MODULES", "CLAIM_NAMES", "claims", "select"]

#: claim name -> module defining its SPEC (report order)
CLAIM_MODULES: dict[str, str] = {
    "ste-correlation": "qopt.reproduce.claims.ste_correlation",
    "uniq-steps": "qopt.reproduce.claims.uniq_steps",
    "bcgd-descent": "qopt.reproduce.claims.bcgd_descent",
    "br-vs-bc": "qopt.reproduce.claims.br_vs_bc",
    "ste-table1": "qopt.reproduce.claims.ste_table1",
    "cifar": "qopt.reproduce.claims.cifar",
}
CLAIM_NAMES = tuple(CLAIM_MODULES)


def claims() -> dict[str, ClaimSpec]:
    """Every registered claim, in report order."""
    out = {}
    for name, mod in CLAIM_MODULES.items():
        spec = importlib.import_module(mod).SPEC
        if spec.name != name:
            raise RuntimeError(f"{mod}.SPEC is named {spec.name!r}, registered as {name!r}")
        out[name] = spec
    return out


def select(names: Sequence[str] | None) -> list[ClaimSpec]:
    """The claims named (all when ``names`` is empty/None), in report order.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    names = list(names or [])
    bad = [n for n in names if n not in CLAIM_MODULES]
    if bad:
        hints = "".join(f"; {b}: did you mean {' or '.join(map(repr, close))}?"
                        for b in bad if (close := close_names(b, CLAIM_NAMES)))
        raise ValueError(f"unknown claim(s) {', '.join(bad)}; known: {', '.join(CLAIM_NAMES)}"
                         f"{hints}")
    every = claims()
    return [every[n] for n in CLAIM_NAMES if not names or n in names]
