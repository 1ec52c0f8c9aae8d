r"""Collapsed runs: a quantized run that ends far below its float parent, or near chance.

A run **collapsed** when its final test accuracy :math:`a` satisfies

.. math::

    a < a_\text{parent} - 0.10 \qquad\text{or}\qquad a < 1/K + 0.05,

with :math:`a_\text{parent}` the final test accuracy of the float run it started from (a staged
protocol's parent, when there is one) and :math:`K` the number of classes. The thresholds
(:data:`DROP`, :data:`CHANCE_MARGIN`) are stated in every report and table that counts
collapses. A count, reported beside the numbers; it selects nothing (the collapse of a method
under a protocol is a finding about that protocol, e.g. BinaryConnect with one scale per
tensor at lr 0.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: a run more than this far (accuracy, a fraction) below its float parent has collapsed
DROP = 0.10
#: a run within this of chance accuracy 1/K has collapsed
CHANCE_MARGIN = 0.05
RULE = (f"collapsed: final test accuracy more than {100 * DROP:.0f} points below the float "
        f"parent, or less than {100 * CHANCE_MARGIN:.0f} points above chance")


def is_collapsed(acc: float | None, num_classes: int, parent_acc: float | None = None) -> bool:
    """The rule of the module docstring (False for a regression run: ``acc`` None)."""
    if acc is None or num_classes < 1:
        return False
    if parent_acc is not None and acc < parent_acc - DROP:
        return True
    return acc < 1.0 / num_classes + CHANCE_MARGIN


def run_collapsed(run_dir: str | Path, result: dict[str, Any] | None = None) -> bool:
    """Whether the finished run in ``run_dir`` collapsed: its ``config.json`` gives the number
    of classes and the parent run (``init.from``, a run directory with a ``result.json``)."""
    from qopt.train.io import read_json

    run_dir = Path(run_dir)
    res = result if result is not None else read_json(run_dir / "result.json")
    try:
        cfg = read_json(run_dir / "config.json")
    except (OSError, ValueError):
        return False
    k = int((cfg.get("data") or {}).get("num_classes") or 0)
    parent = None
    src = (cfg.get("init") or {}).get("from")
    if src and (Path(src) / "result.json").is_file():
        parent = read_json(Path(src) / "result.json")["final"].get("test_acc")
    return is_collapsed(res["final"].get("test_acc"), k, parent)
