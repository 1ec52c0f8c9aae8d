"""Where code comes from: our own packages, never a user's file of the same name, and a user's
``package.module:attr`` (a config's ``model``) only from installed packages and an explicit
``PYTHONPATH``, never from the working directory. Standard library only.

**Our packages** (:data:`OURS`: ``theory``, ``proofs_check``, ``figures``, ``benchmarks``) are
shipped beside ``qopt`` (one wheel, one source tree). A user's ``theory.py`` in the directory of
their script (Python puts it first on ``sys.path``) would shadow ours and fail somewhere deep
(``ImportError: cannot import name 'released_tables' from 'theory'``). ``import qopt``
installs :class:`ShadowGuard`, a meta-path finder that looks at the first import of each of
those names: when it resolves to anything but the package beside ``qopt``, the import fails
with :class:`ShadowedPackage`, one line naming the file found, ours, and how to fix it. (A
shadowed ``qopt`` itself runs none of our code and cannot be caught here; Python then reports
``No module named qopt.cli`` or similar.)

**The working directory** (:func:`isolate_entry_path`, called by ``python -m qopt`` and so by
``torchrun -m qopt``): ``python -m`` puts the working directory first on ``sys.path``, so a
downloaded config with ``"model": "evilmod:Net"`` would import ``./evilmod.py``. The entry
point removes that implicit entry unless the user put the directory on ``PYTHONPATH``
themselves (``PYTHONPATH=.`` is explicit and keeps working). When ``qopt`` itself was loaded
from that directory (a source checkout run in place, not installed) the entry stays, for our
own packages, and :func:`import_attr` refuses any other module found there. The ``qopt``
console script never had the working directory on its path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

#: our top-level packages besides qopt (shipped in the same wheel, see pyproject.toml)
OURS = ("theory", "proofs_check", "figures", "benchmarks")
#: the directory that holds qopt and its sibling packages
ROOT = Path(__file__).resolve().parent.parent

#: the working directory ``python -m qopt`` put on ``sys.path`` and that was kept because qopt
#: itself came from it (see the module docstring); None otherwise
_kept_implicit: str | None = None


class ShadowedPackage(ImportError):
    """One of our package names resolves to a file or directory that is not ours."""


def _real(p: str | os.PathLike) -> str:
    return os.path.realpath(os.fspath(p) or os.getcwd())


def _location(spec: importlib.machinery.ModuleSpec) -> str | None:
    """The file or directory a spec would load (a package: its directory)."""
    if spec.origin and spec.origin not in ("built-in", "frozen", "namespace"):
        p = Path(spec.origin)
        return str(p.parent if p.name == "__init__.py" else p)
    locs = list(spec.submodule_search_locations or [])
    return locs[0] if locs else None


def check_ours(name: str, where: str | None) -> None:
    """Raise :class:`ShadowedPackage` unless ``where`` (what ``name`` resolves to) is our
    package beside qopt. Nothing is checked when that package is absent (a partial copy)."""
    ours = ROOT / name
    if not (ours / "__init__.py").is_file():
        return
    if where is not None and _real(where) == _real(ours):
        return
    raise ShadowedPackage(
        f"qopt: {name!r} resolves to {where or 'a module without a file'}, not qopt's own "
        f"package {ours}: a file or directory of yours named {name!r} shadows it; rename it, "
        f"or run from another directory", name=name, path=where)


class ShadowGuard(importlib.abc.MetaPathFinder):
    """Meta-path finder that checks where each of :data:`OURS` is found (module docstring);
    it finds nothing itself: the spec is the one the other finders give."""

    def find_spec(self, fullname: str, path: Any = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if path is not None or fullname not in OURS:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or isinstance(finder, ShadowGuard) or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                check_ours(fullname, _location(spec))
                return spec
        return None


def install_shadow_guard() -> None:
    """Check those of :data:`OURS` already imported, then guard the first import of the
    others (called by ``import qopt``)."""
    for name in OURS:
        mod = sys.modules.get(name)
        if mod is not None:
            spec = getattr(mod, "__spec__", None)
            check_ours(name, _location(spec) if spec is not None else
                       getattr(mod, "__file__", None))
    if not any(isinstance(f, ShadowGuard) for f in sys.meta_path):
        sys.meta_path.insert(0, ShadowGuard())


def explicit_path() -> set[str]:
    """The directories the user put on ``PYTHONPATH`` (real paths; an empty entry is the
    working directory, as for Python itself; none under ``-E``/``-I``)."""
    if sys.flags.ignore_environment:
        return set()
    value = os.environ.get("PYTHONPATH", "")
    return {_real(p) for p in value.split(os.pathsep)} if value else set()


def isolate_entry_path() -> None:
    """Remove the working directory that ``python -m`` put first on ``sys.path``, unless it is
    on ``PYTHONPATH`` or qopt itself came from it (module docstring). Call it first thing in
    ``qopt/__main__.py``."""
    global _kept_implicit
    if getattr(sys.flags, "safe_path", False) or not sys.path:
        return  # python -P / -I: Python added no such entry
    first = _real(sys.path[0])
    if first != _real(os.getcwd()) or first in explicit_path():
        return
    if first == _real(ROOT):  # a checkout run in place: keep it for our own packages
        _kept_implicit = first
        return
    del sys.path[0]
    importlib.invalidate_caches()


def _from_working_dir(top: str) -> str | None:
    """``./top.py`` or ``./top/`` when the working directory holds one, else None."""
    for cand in (Path.cwd() / f"{top}.py", Path.cwd() / top):
        if cand.exists():
            return str(cand)
    return None


def import_attr(spec: str, what: str) -> Any:
    """The object named by ``package.module:attr`` (dotted ``attr`` allowed), imported from the
    Python path under the rule of the module docstring. ``what`` names the setting in messages
    (``"model"``).

    Raises:
        ValueError: the module cannot be imported (with a hint when the working directory holds
            a file of that name: it is not imported), would come from the working directory
            that ``python -m qopt`` kept, or lacks ``attr``.
    """
    mod_name, _, attr = spec.partition(":")
    top = mod_name.split(".")[0]
    local = _from_working_dir(top)
    hint = (f" ({local} in the working directory is not imported: qopt imports {what} code "
            f"only from installed packages and PYTHONPATH; to use it, run with "
            f"PYTHONPATH={os.getcwd()})") if local else ""
    if _kept_implicit is not None and top not in OURS and top != "qopt":
        found = importlib.util.find_spec(top)
        where = _location(found) if found is not None else None
        if where is not None and _real(Path(where).parent) == _kept_implicit:
            raise ValueError(f"{what} {spec!r}: module {top!r} would be imported from the "
                             f"working directory ({where}); qopt imports {what} code only from "
                             f"installed packages and PYTHONPATH (to use it: PYTHONPATH="
                             f"{os.getcwd()})")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"{what} {spec!r}: cannot import module {mod_name!r}: {exc}{hint}") \
            from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{what} {spec!r}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj
