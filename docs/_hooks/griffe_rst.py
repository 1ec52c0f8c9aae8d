r"""Griffe extension: render the reST markup of qopt's docstrings as Markdown.

The docstrings follow the Google layout (``Args:``, ``Returns:``, ``Raises:``) but write their
math and cross references in reST, as numpy/scipy/torch docstrings do. mkdocstrings renders
Markdown, so before rendering each docstring is rewritten:

* ``.. math::`` blocks (and one-line ``.. math:: formula``) become fenced ``text`` blocks;
* the LaTeX inside math (roles and blocks) is rewritten in Unicode where that is unambiguous
  (:func:`latex_to_text`: Greek letters, relations, ``\frac{a}{b}`` → ``(a/b)``,
  ``v^\top`` → ``vᵀ``, ``\hat w`` → ``ŵ``, …), so that the pages read without a math
  renderer (the site loads no JavaScript from outside); an unknown macro is left as written;
* simple reST tables (rows framed by ``====  ====`` rules) become fenced ``text`` blocks, kept
  exactly as written (aligned columns);
* roles become inline code: ``:math:`x``` → ``x``, ``:class:`~a.b.C``` → ``C``, and likewise
  ``:mod:``, ``:func:``, ``:meth:``, ``:data:``, ``:attr:``, ``:obj:``, ``:exc:``;
* a paragraph ending in ``::`` (a reST literal block follows) ends in ``:`` instead.

Nothing else changes: the text stays the source's, so the API pages say what the docstrings say.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import griffe

_ROLE = re.compile(r":(math|mod|class|func|meth|data|attr|obj|exc|ref|term):`([^`]+)`")
_RULE = re.compile(r"^\s*=+( +=+)+\s*$")
_MATH = re.compile(r"^(\s*)\.\. math::\s*(.*)$")


_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "Delta": "Δ", "epsilon": "ε",
    "varepsilon": "ε", "eta": "η", "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "ϕ",
    "varphi": "φ", "Phi": "Φ", "chi": "χ", "omega": "ω", "Omega": "Ω", "ell": "ℓ",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "in": "∈",
    "notin": "∉", "partial": "∂", "nabla": "∇", "langle": "⟨", "rangle": "⟩", "pm": "±",
    "sum": "Σ", "prod": "Π", "int": "∫", "infty": "∞", "dots": "…", "ldots": "…", "cdots": "⋯",
    "cdot": "·", "times": "×", "perp": "⊥", "leftarrow": "←", "gets": "←", "to": "→",
    "rightarrow": "→", "mapsto": "↦", "sim": "~", "approx": "≈", "lceil": "⌈", "rceil": "⌉",
    "lfloor": "⌊", "rfloor": "⌋", "odot": "⊙", "subset": "⊂", "subseteq": "⊆", "cup": "∪",
    "cap": "∩", "forall": "∀", "exists": "∃", "Rightarrow": "⇒", "iff": "⇔", "angle": "∠",
    "min": "min", "max": "max", "arg": "arg", "sin": "sin", "cos": "cos", "cot": "cot",
    "sec": "sec", "tan": "tan", "log": "log", "exp": "exp", "lim": "lim", "sup": "sup",
    "inf": "inf", "argmin": "argmin", "argmax": "argmax", "qquad": "    ", "quad": "  ",
    "top": "ᵀ",
}
_FONTS = {"mathbb": {"R": "ℝ", "E": "𝔼", "N": "ℕ", "Z": "ℤ", "P": "ℙ"},
          "mathcal": {"N": "𝒩", "L": "ℒ", "O": "𝒪"}}
_ACCENTS = {"hat": "\u0302", "tilde": "\u0303", "bar": "\u0304", "overline": "\u0304"}
_DROP = ("big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "left", "right",
         "displaystyle")


def _group(s: str, i: int) -> tuple[str, int]:
    """The argument of a macro at ``s[i:]``: a ``{...}`` group (braces matched) or one token."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i < len(s) and s[i] == "{":
        depth, j = 0, i
        while j < len(s):
            depth += {"{": 1, "}": -1}.get(s[j], 0)
            if depth == 0:
                return s[i + 1:j], j + 1
            j += 1
        return s[i + 1:], len(s)
    if i < len(s) and s[i] == "\\":
        m = re.match(r"\\[A-Za-z]+", s[i:])
        if m:
            return m.group(0), i + m.end()
    return s[i:i + 1], i + 1


_RELATIONS = frozenset("≤≥≠∈∉←→↦≈⊂⊆⇒⇔~=")


def _atom(t: str) -> str:
    """``t`` as an operand: bare when it is one ASCII word/number or one character."""
    t = t.strip()
    return t if re.fullmatch(r"[A-Za-z0-9.]+|\S", t) else f"({t})"


def latex_to_text(tex: str) -> str:
    """Unicode rendering of a LaTeX formula (the common macros; unknown ones are kept)."""
    s = tex.replace("\\{", "\x00").replace("\\}", "\x01").replace("\\|", "‖")
    s = re.sub(r"\^\{?\\top\}?", "ᵀ", s)
    s = re.sub(r"\\arg\s*\\(min|max)", r"\\arg\1", s)
    out, i = [], 0
    while i < len(s):
        m = re.match(r"\\([A-Za-z]+)", s[i:])
        if not m:
            out.append({"\x00": "{", "\x01": "}"}.get(s[i], s[i]))
            i += 1
            continue
        name, i = m.group(1), i + m.end()
        if name in ("frac", "tfrac", "dfrac"):
            a, i = _group(s, i)
            b, i = _group(s, i)
            na, nb = _atom(latex_to_text(a)), _atom(latex_to_text(b))
            simple = not na.startswith("(") and not nb.startswith("(")
            out.append(f"({na}/{nb})" if simple else f"{na}/{nb}")
            continue
        elif name == "sqrt":
            a, i = _group(s, i)
            out.append("√" + _atom(latex_to_text(a)))
        elif name in ("mathrm", "text", "operatorname", "mathbf", "mathit", "textrm"):
            a, i = _group(s, i)
            out.append(latex_to_text(a))
        elif name in _FONTS:
            a, i = _group(s, i)
            out.append(_FONTS[name].get(a.strip(), a))
        elif name in _ACCENTS:
            a, i = _group(s, i)
            a = latex_to_text(a)
            out.append(a + _ACCENTS[name] if len(a) == 1 else f"{_ACCENTS[name]}({a})")
        elif name in _DROP:
            continue
        elif name in _SYMBOLS:
            sym = _SYMBOLS[name]
            while i < len(s) and s[i] == " ":  # TeX skips the spaces after a control word
                i += 1
            if sym in _RELATIONS:
                sym = f" {sym} "
            elif sym.isalpha() and len(sym) > 1:  # min x, t sec φ: a word needs spaces
                if out and out[-1][-1:].isalnum():
                    sym = " " + sym
                if i < len(s) and s[i] not in "(_^{}),":
                    sym += " "
            out.append(sym.replace("    ", "\x02").replace("  ", "\x03"))
        elif name in (",", ";", "!"):
            continue
        else:
            out.append("\\" + name)
    text = "".join(out).replace("\\,", " ").replace("\\;", " ").replace("\\!", "")
    text = re.sub(r"(?<=\S) {2,}", " ", text)  # relation padding next to written spaces
    return unicodedata.normalize("NFC", text.replace("\x02", "    ").replace("\x03", "  "))


def _role(m: re.Match[str]) -> str:
    kind, text = m.group(1), m.group(2)
    if kind == "math":
        text = latex_to_text(text)
    elif text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    text = text.replace("`", "'")
    return f"`{text}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def convert(text: str) -> str:
    """The Markdown form of one docstring (see the module docstring)."""
    # a role broken over lines becomes one line (Markdown reflows paragraphs anyway)
    text = _ROLE.sub(lambda m: re.sub(r"\s*\n\s*", " ", m.group(0)), text)
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
            body = [latex_to_text(b) for b in ([first] if first else []) + rest]
            out += ["", pad + "```text", *(pad + b for b in body), pad + "```", ""]
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
