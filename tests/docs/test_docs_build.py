"""The documentation builds with ``mkdocs build --strict`` (warnings are errors), offline, and
says what the code is.

One strict build per session (about 15 s) feeds every test here:

* the build itself (mkdocs + mkdocstrings must be installed: they are in the ``test`` extra, and
  a missing one FAILS the test, it does not skip it);
* the site needs nothing from outside (no script or stylesheet from another host);
* the pages and anchors the code cites exist: every ``docs/<page>.md#<anchor>`` written in a
  ``.py`` file;
* the CLI page lists every subcommand and option of the real parser, and the API reference has a
  page for every public module;
* the reST-to-Markdown conversion of docstrings does what its docstring says.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "docs" / "_hooks"
CITATION = re.compile(r"docs/((?:[\w.-]+/)*[\w.-]+\.md)(?:#([\w-]+))?")


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"_qopt_docs_{name}", HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Ids(HTMLParser):
    """Collects every ``id`` attribute and every external resource of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        url = a.get("src") if tag in ("script", "img", "iframe") else (
            a.get("href") if tag == "link" else None)
        if url and re.match(r"^(https?:)?//", url):
            self.external.append(f"<{tag}> {url}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built by ``mkdocs build --strict`` into a temporary directory."""
    missing = [m for m in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python")
               if importlib.util.find_spec(m) is None]
    assert not missing, (f"{missing} not installed: the docs build needs the 'test' extra "
                         "(pip install -e '.[test]')")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


@pytest.fixture(scope="module")
def pages(site: Path) -> dict[str, _Ids]:
    """Parsed HTML of every page, keyed by its source path (``math/bcgd.md``)."""
    out = {}
    for html in site.rglob("*.html"):
        rel = html.relative_to(site).as_posix()
        if rel.startswith(("search/", "assets/")) or rel == "404.html":
            continue
        p = _Ids()
        p.feed(html.read_text(encoding="utf-8"))
        out[rel[:-len(".html")] + ".md"] = p
    return out


def test_strict_build_makes_every_page(site: Path, pages: dict[str, _Ids]) -> None:
    sources = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")
               if not p.name.startswith("_")}
    assert sources, "no Markdown pages under docs/"
    assert sources <= set(pages), f"pages missing from the site: {sorted(sources - set(pages))}"
    assert {"cli.md", "api/index.md"} <= set(pages)


def test_every_declared_anchor_exists(pages: dict[str, _Ids]) -> None:
    """A ``{#id}`` written in a page is a stable anchor that docstrings cite; attr_list drops it
    silently when the heading text has braces of its own, so check each one was made."""
    bad = []
    for md in (ROOT / "docs").rglob("*.md"):
        rel = md.relative_to(ROOT / "docs").as_posix()
        if md.name.startswith("_"):
            continue
        for anchor in re.findall(r"\{#([\w-]+)\}", md.read_text(encoding="utf-8")):
            if anchor not in pages[rel].ids:
                bad.append(f"{rel}#{anchor}")
    assert not bad, f"anchors declared but not made: {bad}"


def test_site_loads_nothing_from_other_hosts(pages: dict[str, _Ids]) -> None:
    external = {f"{name}: {e}" for name, p in pages.items() for e in p.external}
    assert not external, f"the site must work offline; external resources: {sorted(external)}"


def _check_citations(found: list[tuple[str, str, str | None]],
                     pages: dict[str, _Ids]) -> list[str]:
    bad = []
    for where, page, anchor in found:
        if page not in pages:
            bad.append(f"{where}: no page docs/{page}")
        elif anchor and anchor not in pages[page].ids:
            bad.append(f"{where}: docs/{page} has no anchor #{anchor}")
    return bad


def test_code_citations_point_at_existing_anchors(pages: dict[str, _Ids]) -> None:
    found = []
    for py in ROOT.rglob("*.py"):
        rel = py.relative_to(ROOT)
        if rel.parts[0] in ("docs", "site", "build", "dist") or rel.parts[0].startswith("."):
            continue
        for k, line in enumerate(py.read_text(encoding="utf-8").splitlines(), 1):
            found += [(f"{rel}:{k}", m.group(1), m.group(2)) for m in CITATION.finditer(line)
                      if not m.group(1).startswith("_")]
    assert len(found) > 50, f"the scan found only {len(found)} citations: is the pattern right?"
    bad = _check_citations(found, pages)
    assert not bad, "citations of missing docs pages/anchors:\n" + "\n".join(bad)


def _walk(parser: argparse.ArgumentParser, path: list[str]):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, [*path, name])


def test_cli_page_covers_every_command_and_option(pages: dict[str, _Ids]) -> None:
    cli = _hook("cli_page")
    prog, parser = cli.load_parser(ROOT)
    text = cli.render(ROOT)
    commands = list(_walk(parser, [prog]))
    assert len(commands) >= 7, "the parser has fewer subcommands than expected"
    for path, sub in commands[1:]:
        anchor = "-".join(path)
        assert anchor in pages["cli.md"].ids, f"no section #{anchor} for `{' '.join(path)}`"
        for action in sub._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}`" in text, f"`{' '.join(path)} {flag}` missing"


def test_every_public_module_has_an_api_page(pages: dict[str, _Ids]) -> None:
    api = _hook("api_pages")
    mods = api.discover(ROOT)
    names = {d for d, _, _ in mods}
    assert {"theory", "theory.sets", "qopt", "proofs_check"} <= names
    assert not any(d.startswith(("qopt.reproduce", "qopt.commands")) for d in names)
    for dotted in names:
        assert f"api/{dotted}.md" in pages, f"no API page for {dotted}"
        assert dotted in pages[f"api/{dotted}.md"].ids, f"API page of {dotted} has no #{dotted}"


def test_rst_roles_math_and_tables_become_markdown() -> None:
    rst = _hook("griffe_rst")
    src = "\n".join([
        "Summary with :math:`\\alpha` and :class:`~theory.sets.Ternary`, :mod:`theory.sweep`.",
        "",
        ".. math::",
        "",
        "    a = b + c",
        "    d = e",
        "",
        "Inline :func:`theory.project`::",
        "",
        "=====  =====",
        "key    value",
        "=====  =====",
        "a      1",
        "=====  =====",
        "",
        ".. math:: x = 1",
        "A role broken :math:`a +",
        "    b` over lines.",
        "after",
    ])
    out = rst.convert(src)
    assert "`α`" in out and "`Ternary`" in out and "`theory.sweep`" in out
    assert ":math:" not in out and ":class:" not in out
    assert "```text\na = b + c\nd = e\n```" in out
    assert "Inline `theory.project`:\n" in out
    assert "```text\n=====  =====\nkey    value\n=====  =====\na      1\n=====  =====\n```" in out
    assert "```text\nx = 1\n```" in out and out.rstrip().endswith("after")
    assert "A role broken `a + b` over lines." in out


@pytest.mark.parametrize(("tex", "text"), [
    (r"\frac{w + \lambda P_Q(w)}{1 + \lambda}", "(w + λP_Q(w))/(1 + λ)"),
    (r"\tfrac{\lambda}{2}\operatorname{dist}(w, Q)^2", "(λ/2)dist(w, Q)^2"),
    (r"\arg\min_{\alpha \ge 0} \|w - \alpha z\|^2", "argmin_{α ≥ 0} ‖w - αz‖^2"),
    (r"v^\top(I + 11^\top)v", "vᵀ(I + 11ᵀ)v"),
    (r"\frac{h}{2\sqrt{2\pi}}\hat w", "h/(2√(2π))ŵ"),
    (r"Q = \{\alpha z : z \in L^n\}", "Q = {αz : z ∈ L^n}"),
    (r"\cos\varphi\,\xi(t\sec\varphi)", "cos φ ξ(t sec φ)"),
    (r"\begin{cases} 0 & x \le 0 \end{cases}", r"\begin{cases} 0 & x ≤ 0 \end{cases}"),
])
def test_latex_becomes_readable_unicode(tex: str, text: str) -> None:
    assert _hook("griffe_rst").latex_to_text(tex) == text
