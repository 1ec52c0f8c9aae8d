"""The layers and their one-way arrows, read from the source (no import is executed).

Layers (bottom to top)::

    theory          float64 reference math            imports no other layer, never torch
    qopt engine     sets in use, projection, methods,  imports theory only
                    QuantOptimizer, nn, models, data,
                    export, io
    proofs_check    checks against theory              imports theory and the qopt engine
    benchmarks      measurements                       imports the engine (and the trainer)
    qopt app        train, study, reproduce, CLI       imports anything below
    figures         one function per figure            may import all

Every ``import`` statement counts, also those inside functions (lazy imports), and so does a
string constant that names one of our modules exactly (``importlib.import_module(name)``
tables such as ``qopt.cli.COMMANDS``). Beyond the rules per layer, the graph of units is
acyclic: a unit is a top-level package without subpackages (``theory``, ``proofs_check``,
``figures``, ``benchmarks``), a subpackage of ``qopt`` (``qopt.train``, ``qopt.projection``,
...), or a module at the top of ``qopt`` (``qopt.io``, ``qopt.cli``, ...; ``qopt/__init__`` is
the unit ``qopt``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "qopt", "proofs_check", "figures", "benchmarks")

#: the application part of qopt: everything else under qopt/ is the engine
APPLICATION = ("qopt.train", "qopt.study", "qopt.reproduce", "qopt.commands", "qopt.cli",
               "qopt.__main__")
#: third-party packages theory must not import
THEORY_FORBIDDEN_EXTERNAL = ("torch", "torchvision", "matplotlib")
#: the only third-party packages theory may import (besides the standard library)
THEORY_ALLOWED_EXTERNAL = ("numpy", "scipy", "sympy")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the five packages: dotted name -> file."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _in(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def is_application(name: str) -> bool:
    return _in(name, APPLICATION)


def is_engine(name: str) -> bool:
    return _in(name, "qopt") and not is_application(name)


def _resolve(name: str) -> str:
    """The deepest of our modules that ``import name`` executes (``name`` itself, or the
    package when ``name`` is an attribute of it); external names are returned unchanged."""
    mods = modules()
    while name not in mods and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(name: str) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import of module ``name``: statements anywhere in the
    file (module level or inside functions) and exact module names in string constants."""
    path = modules()[name]
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield _resolve(alias.name), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                yield (full if full in modules() else _resolve(target)), node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value in modules() and "." in node.value:
            yield node.value, node.lineno


def unit(name: str) -> str:
    """The unit of the cycle check (module docstring)."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "qopt" else parts[0]


def _violations(source: str | Callable[[str], bool], rule: Callable[[str], bool]) -> list[str]:
    """``file:line imports target`` for each import of a module in ``source`` (a package name
    or a predicate on module names) whose target breaks ``rule``."""
    in_source = source if callable(source) else (lambda name: _in(name, source))
    out = []
    for name in sorted(modules()):
        if not in_source(name):
            continue
        for target, line in imports_of(name):
            if target != name and rule(target):
                out.append(f"{modules()[name].relative_to(ROOT)}:{line} imports {target}")
    return out


def test_the_module_list_covers_every_package_and_the_application_set_exists() -> None:
    mods = modules()
    assert all(p in mods for p in PACKAGES)
    for app in APPLICATION:  # a renamed application package would silently join the engine
        assert app in mods, f"application unit {app} not found: update APPLICATION"
    assert len(mods) > 100


def test_the_reader_sees_lazy_imports_and_module_names_in_strings() -> None:
    verify = {t for t, _ in imports_of("qopt.commands.verify")}
    assert "proofs_check" in verify  # ``from proofs_check import ...`` inside a function
    assert "proofs_check.report" in verify  # a submodule named by ``from pkg.mod import f``
    cli = {t for t, _ in imports_of("qopt.cli")}
    assert {"qopt.commands.train", "qopt.commands.verify"} <= cli  # COMMANDS table strings
    assert unit("qopt.train.config") == "qopt.train" and unit("qopt.io") == "qopt.io"
    assert unit("qopt") == "qopt" and unit("proofs_check.run") == "proofs_check"


def test_theory_imports_no_other_layer_and_no_torch() -> None:
    bad = _violations("theory", lambda t: _in(t, ("qopt", "proofs_check", "figures",
                                                  "benchmarks", *THEORY_FORBIDDEN_EXTERNAL)))
    assert not bad, "theory must stay the bottom layer:\n" + "\n".join(bad)


def test_theory_imports_only_numpy_scipy_sympy_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"theory", *THEORY_ALLOWED_EXTERNAL}
    bad = _violations("theory", lambda t: t.split(".")[0] not in allowed)
    assert not bad, "theory is numpy/scipy/sympy only:\n" + "\n".join(bad)


def test_the_engine_imports_no_application_checker_figure_or_benchmark() -> None:
    bad = _violations(is_engine, lambda t: is_application(t)
                      or _in(t, ("proofs_check", "figures", "benchmarks")))
    assert not bad, "the qopt engine reaches above itself:\n" + "\n".join(bad)


def test_proofs_check_does_not_import_the_application() -> None:
    bad = _violations("proofs_check", lambda t: is_application(t) or _in(t, ("figures",
                                                                           "benchmarks")))
    assert not bad, "proofs_check reaches into the application:\n" + "\n".join(bad)


def test_benchmarks_import_no_cli_checker_or_figure() -> None:
    bad = _violations("benchmarks", lambda t: _in(t, ("qopt.commands", "qopt.cli",
                                                      "proofs_check", "figures")))
    assert not bad, "benchmarks reach into the CLI:\n" + "\n".join(bad)


def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in modules():
        src = unit(name)
        graph.setdefault(src, set())
        for target, _ in imports_of(name):
            if target in modules() and unit(target) != src:
                graph[src].add(unit(target))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a list of nodes (first = last), or None (iterative DFS)."""
    color = dict.fromkeys(graph, 0)  # 0 new, 1 on the stack, 2 done
    for start in sorted(graph):
        if color[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        color[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
                path.pop()
            elif color.get(nxt, 0) == 1:
                return path[path.index(nxt):] + [nxt]
            elif color.get(nxt, 0) == 0:
                color[nxt] = 1
                stack.append((nxt, iter(sorted(graph.get(nxt, ())))))
                path.append(nxt)
    return None


def test_find_cycle_finds_a_cycle_and_accepts_a_dag() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_units_form_a_dag() -> None:
    graph = unit_graph()
    cycle = find_cycle(graph)
    if cycle:
        edges = []
        for a, b in zip(cycle, cycle[1:]):
            where = [f"{modules()[m].relative_to(ROOT)}:{line}" for m in modules()
                     if unit(m) == a for t, line in imports_of(m) if unit(t) == b]
            edges.append(f"{a} -> {b} ({', '.join(where[:3])})")
        pytest.fail("import cycle between units:\n" + "\n".join(edges))


def _loaded_after(code: str) -> set[str]:
    probe = (f"import sys\n{code}\n"
             "print('\\n'.join(sorted(sys.modules)))\n")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                       timeout=120, check=True)
    return set(r.stdout.split())


def test_import_qopt_loads_only_the_engine_and_no_torch() -> None:
    loaded = _loaded_after("import qopt, qopt.methods")
    ours = {m for m in loaded if _in(m, PACKAGES)}
    assert not {m for m in ours if is_application(m) or _in(m, ("proofs_check", "figures",
                                                                  "benchmarks"))}, ours
    assert not {m for m in loaded if _in(m, ("torch", "matplotlib", "multiprocessing"))}
