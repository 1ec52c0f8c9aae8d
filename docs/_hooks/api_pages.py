"""MkDocs hook: one API page per public module of ``theory``, the ``qopt`` engine and
``proofs_check``, generated from the docstrings at build time (mkdocstrings).

Modules are found on the file system (nothing is imported here: mkdocstrings reads the source
statically), so a module added, moved or removed by a code change shows up, moves or disappears
in the API reference without editing the docs. Private modules (``_name.py``) are skipped, and so
is the application layer of ``qopt`` (trainer, studies, reproduce, CLI: :data:`APPLICATION`),
whose user-facing contract is the CLI page and the file formats page instead.

Pages: ``api/index.md`` (the list, with each module's one-line summary), ``api/<dotted>.md`` per
module. The nav entry ``API reference: api/index.md`` of ``mkdocs.yml`` is expanded into a
section with one sub-section per package.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

#: top-level packages documented, in nav order
PACKAGES = ("theory", "qopt", "proofs_check")
#: qopt's application layer (above the engine): documented by the CLI and formats pages
APPLICATION = ("qopt.train", "qopt.study", "qopt.reproduce", "qopt.commands", "qopt.cli",
               "qopt.app", "qopt.__main__")
#: application modules documented all the same: the configuration a user writes (the fields of
#: ``config.json`` and of a study file); a module that moves or disappears is simply not listed
APPLICATION_DOCUMENTED = ("qopt.train.config", "qopt.study.config")
API_INDEX = "api/index.md"


def _root(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def _summary(path: Path) -> str:
    """First line of the module docstring (read with ``ast``; empty when none)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ""
    doc = ast.get_docstring(tree) or ""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    return line.replace("|", "\\|")


def _excluded(dotted: str) -> bool:
    return any(dotted == a or dotted.startswith(a + ".") for a in APPLICATION)


def discover(root: Path) -> list[tuple[str, Path, bool]]:
    """``(dotted name, file, is_package)`` of every documented module, by package, sorted."""
    found: list[tuple[str, Path, bool]] = []
    for pkg in PACKAGES:
        base = root / pkg
        if not (base / "__init__.py").is_file():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            d = Path(dirpath)
            dirnames[:] = sorted(n for n in dirnames if not n.startswith(("_", "."))
                                 and (d / n / "__init__.py").is_file())
            rel = d.relative_to(root).parts
            dotted_pkg = ".".join(rel)
            if _excluded(dotted_pkg):
                dirnames[:] = []
                continue
            found.append((dotted_pkg, d / "__init__.py", True))
            for f in sorted(filenames):
                if f.endswith(".py") and not f.startswith("_"):
                    dotted = f"{dotted_pkg}.{f[:-3]}"
                    if not _excluded(dotted):
                        found.append((dotted, d / f, False))
    for dotted in APPLICATION_DOCUMENTED:
        path = root.joinpath(*dotted.split(".")).with_suffix(".py")
        if path.is_file():
            found.append((dotted, path, False))
    return sorted(found, key=lambda item: (PACKAGES.index(item[0].split(".")[0]), item[0]))


def _page(dotted: str) -> str:
    return f"api/{dotted}.md"


def _module_page(dotted: str, is_package: bool, children: list[tuple[str, str]]) -> str:
    if not is_package:
        return f"::: {dotted}\n"
    lines = [f"::: {dotted}", "    options:", "      members: false", ""]
    if children:
        lines += ["## Modules", "", "| module | summary |", "| --- | --- |"]
        for child, summary in children:
            lines.append(f"| [`{child}`]({child}.md) | {summary} |")
    return "\n".join(lines) + "\n"


def _index_page(mods: list[tuple[str, Path, bool]]) -> str:
    lines = [
        "# API reference",
        "",
        "Generated at build time from the docstrings of the source (mkdocstrings). Each page",
        "shows one module: its docstring (the math and its provenance) and its public classes",
        "and functions. `theory` is the exact float64 reference, `qopt` the PyTorch engine",
        "(the application layer, trainer, studies, reproduce and CLI, is described by the",
        "[command line](../cli.md) and [files](../formats.md) pages), `proofs_check` the",
        "checks of any implementation against `theory`.",
        "",
    ]
    for pkg in PACKAGES:
        rows = [(d, p) for d, p, _ in mods if d == pkg or d.startswith(pkg + ".")]
        if not rows:
            continue
        lines += [f"## `{pkg}` {{#{pkg.replace('_', '-')}}}", "", "| module | summary |",
                  "| --- | --- |"]
        lines += [f"| [`{d}`]({d}.md) | {_summary(p)} |" for d, p in rows]
        lines.append("")
    return "\n".join(lines)


def on_config(config: Any, **kwargs: Any) -> Any:
    """Expand the nav entry of ``api/index.md`` into a section of generated pages."""
    mods = discover(_root(config))
    section: list[Any] = [{"Overview": API_INDEX}]
    for pkg in PACKAGES:
        pages = [{d: _page(d)} for d, _, _ in mods if d == pkg or d.startswith(pkg + ".")]
        if pages:
            section.append({pkg: pages})

    def expand(items: list[Any]) -> list[Any]:
        out = []
        for item in items:
            if isinstance(item, dict):
                (title, value), = item.items()
                if value == API_INDEX:
                    out.append({title: section})
                elif isinstance(value, list):
                    out.append({title: expand(value)})
                else:
                    out.append(item)
            else:
                out.append(item)
        return out

    if config["nav"]:
        config["nav"] = expand(config["nav"])
    return config


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    """Add the generated API pages."""
    mods = discover(_root(config))
    for dotted, _, is_pkg in mods:
        children = [(d, _summary(p)) for d, p, _ in mods
                    if d.startswith(dotted + ".") and d.count(".") == dotted.count(".") + 1]
        files.append(File.generated(config, _page(dotted),
                                    content=_module_page(dotted, is_pkg, children)))
    files.append(File.generated(config, API_INDEX, content=_index_page(mods)))
    return files
