"""Griffe extension: render the reST markup of qopt's docstrings as Markdown.

The docstrings follow the Google layout (``Args:``, ``Returns:``, ``Raises:``) but write their
math and cross references in reST, as numpy/scipy/torch docstrings do. mkdocstrings renders
Markdown, so before rendering each docstring is rewritten:

* ``.. math::`` blocks (and one-line ``.. math:: formula``) become fenced ``text`` blocks;
* simple reST tables (rows framed by ``====  ====`` rules) become fenced ``text`` blocks, kept
  exactly as written (aligned columns);
* roles become inline code: ``:math:`x``` → ``x``, ``:class:`~a.b.C``` → ``C``, and likewise
  ``:mod:``, ``:func:``, ``:meth:``, ``:data:``, ``:attr:``, ``:obj:``, ``:exc:``;
* a paragraph ending in ``::`` (a reST literal block follows) ends in ``:`` instead.

Nothing else changes: the text stays the source's, so the API pages say what the docstrings say.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(math|mod|class|func|meth|data|attr|obj|exc|ref|term):`([^`]+)`")
_RULE = re.compile(r"^\s*=+( +=+)+\s*$")
_MATH = re.compile(r"^(\s*)\.\. math::\s*(.*)$")


def _role(m: re.Match[str]) -> str:
    kind, text = m.group(1), m.group(2)
    if kind != "math" and text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    text = text.replace("`", "'")
    return f"`{text}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def convert(text: str) -> str:
    """The Markdown form of one docstring (see the module docstring)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _MATH.match(line)
        if m:
            base = len(m.group(1))
            body = [m.group(2)] if m.group(2).strip() else []
            i += 1
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
                body.append(lines[i])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            while body and not body[0].strip():
                body.pop(0)
            cut = min((_indent(b) for b in body[1:] if b.strip()), default=0)
            first = body[0].strip() if body else ""
            rest = [b[cut:] if b.strip() else "" for b in body[1:]]
            pad = " " * base
            out += ["", pad + "```text", *(pad + b for b in ([first] if first else []) + rest),
                    pad + "```", ""]
            continue
        if _RULE.match(line):
            pad = " " * _indent(line)
            block, rules = [], 0
            while i < len(lines) and lines[i].strip() and rules < 3:
                if _RULE.match(lines[i]):
                    rules += 1
                block.append(lines[i][len(pad):] if lines[i].startswith(pad) else lines[i])
                i += 1
            out += ["", pad + "```text", *(pad + b for b in block), pad + "```", ""]
            continue
        line = _ROLE.sub(_role, line)
        line = line.replace("\\ ", "")
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):
            line = line.rstrip()[:-1]
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring with :func:`convert` once the package is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and not getattr(obj.docstring, "_qopt_md", False):
            obj.docstring.value = convert(obj.docstring.value)
            obj.docstring._qopt_md = True  # type: ignore[attr-defined]
