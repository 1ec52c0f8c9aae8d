r"""Staged protocols: runs that start from another run of the same study.

The papers train their quantized networks from a trained float network of the same setup
(BinaryRelax: penhunt/binaryrelax notebook; BCGD: ``--method float`` checkpoints). A study says
so with::

    [protocol]
    init_from = "float"                       # the parent stage: runs of this method
    methods = ["binaryrelax", "bcgd"]         # optional: which methods start from it
                                              # (default: every other method of the study)
    child_keys = ["lr"]                       # optional: grid keys of the children only

Each run of a listed method starts from the run of method ``init_from`` whose values of every
other grid key are the same — the same seed and the same base config — except the
quantization keys ``method`` and ``method_args`` (and ``weights``, ``axis`` when the parent is
``float``, which has none). Exactly one such parent must exist, with the same data set and
model. The runner trains parents first; a child starts once its parent finished (a failed
parent fails its children), resumably, and the dependency is recorded in the child's
``config.json`` (``init_from`` = the parent's run directory; ``init`` = its file, SHA-256 and
``config_hash``).

**Fixed parents while sweeping children** (``child_keys``): grid keys listed there apply to the
child runs only. The parent runs do not take them — they use ``[base]`` /
``[methods.<parent>]`` or the field's default — so a sweep of the quantized stage's ``lr`` (or
any child-only field, e.g. ``epochs`` or a method argument) over K values trains ONE float
parent per seed, not K; every child of a seed starts from that one parent. A child-only key
must be a ``[grid]`` key and not ``seed``.
"""

from __future__ import annotations

from typing import Any

from qopt.suggest import did_you_mean
from qopt.train.fields import ALIASES, METHODS

PROTOCOL_KEYS = ("init_from", "methods", "child_keys")


def child_keys(tab: Any, grid_keys: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The ``child_keys`` of a ``[protocol]`` table (``()`` when absent); ``ValueError`` for a
    key that is not a grid key, or ``seed``."""
    if not isinstance(tab, dict) or "child_keys" not in tab:
        return ()
    keys = tab["child_keys"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"[protocol] child_keys must be a list of grid keys, got {keys!r}")
    for k in keys:
        if k == "seed" or k == "method":
            raise ValueError(f"[protocol] child_keys: {k!r} cannot be child-only (a parent "
                             "is matched by it)")
        if k not in grid_keys:
            raise ValueError(f"[protocol] child_keys: {k!r} is not a [grid] key (grid keys: "
                             f"{list(grid_keys)})")
    return tuple(keys)


def parse_protocol(tab: Any) -> tuple[str, tuple[str, ...] | None] | None:
    """``(parent method, child methods or None = all others)`` of a ``[protocol]`` table."""
    if tab is None or tab == {}:
        return None
    if not isinstance(tab, dict):
        raise ValueError("[protocol] must be a table")
    bad = sorted(set(tab) - set(PROTOCOL_KEYS))
    if bad:
        raise ValueError(f"unknown [protocol] keys {bad}; expected {list(PROTOCOL_KEYS)}")
    if "init_from" not in tab:
        raise ValueError("[protocol] needs init_from = <method of the parent runs>, e.g. "
                         "'float'")

    def method(m: Any) -> str:
        name = ALIASES.get(str(m).lower(), str(m).lower()) if isinstance(m, str) else m
        if name not in METHODS:
            raise ValueError(f"[protocol]: unknown method {m!r}; expected one of {METHODS}"
                             f"{did_you_mean(m, METHODS)}")
        return name

    parent = method(tab["init_from"])
    kids = tab.get("methods")
    if kids is not None:
        if not isinstance(kids, list) or not kids:
            raise ValueError("[protocol] methods must be a non-empty list of methods")
        kids = tuple(method(m) for m in kids)
        if parent in kids:
            raise ValueError(f"[protocol]: method {parent!r} cannot start from itself")
    return parent, kids


def link_parents(cells: list[Any], grid_keys: tuple[str, ...],
                 protocol: tuple[str, tuple[str, ...] | None] | None,
                 only_children: tuple[str, ...] = ()) -> dict[str, str]:
    """``{child run id: parent run id}`` (module docstring); ``ValueError`` naming the run for
    a missing, ambiguous or incompatible parent, or a run that sets ``init_from`` itself.
    ``only_children``: the protocol's ``child_keys`` (not matched: the parent has none)."""
    if protocol is None:
        return {}
    parent_m, kids = protocol
    parents = [c for c in cells if c.config.method == parent_m]
    if not parents:
        raise ValueError(f"[protocol] init_from = {parent_m!r}, but the study has no "
                         f"{parent_m!r} run")
    skip = {"method", "method_args", *only_children} | (
        {"weights", "axis", "group_size"} if parent_m == "float" else set())
    match = [k for k in grid_keys if k not in skip]
    links = {}
    for c in cells:
        m = c.config.method
        if m == parent_m or (kids is not None and m not in kids):
            continue
        if c.config.init_from is not None:
            raise ValueError(f"run {c.run_id}: init_from is given both in [protocol] and in "
                             "the run's config; keep one")
        cand = [p for p in parents if all(p.keys.get(k) == c.keys.get(k) for k in match)]
        if len(cand) != 1:
            what = "no" if not cand else f"{len(cand)} ({', '.join(p.run_id for p in cand)})"
            raise ValueError(f"run {c.run_id}: {what} {parent_m!r} run with the same "
                             f"{', '.join(match) or 'grid values'} to start from")
        p = cand[0]
        for f in ("dataset", "dataset_args", "model", "model_args"):
            if getattr(p.config, f) != getattr(c.config, f):
                raise ValueError(f"run {c.run_id} cannot start from {p.run_id}: {f} differs "
                                 f"({getattr(p.config, f)!r} vs {getattr(c.config, f)!r})")
        links[c.run_id] = p.run_id
    return links
