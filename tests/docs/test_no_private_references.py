"""Nothing in the repository points at a file outside it.

The code once cited private notes (the project's paper notes, API notes and peer/style surveys)
that never shipped with the repository; the documentation under ``docs/`` now holds that
material in the project's own words, and docstrings cite its pages instead
(``docs/<page>.md#<anchor>``, checked by ``test_docs_build.py``). This test scans every tracked
``.py``, ``.md`` and ``.toml`` file for the old names and for relative paths out of the
repository's shared folder, and for the private notes' provenance tags and source keys
(translated in the code into what they mean: stated in a paper, read in the released code, derived
here, or not verified).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the names, spelled in pieces so that this file does not contain them
FORBIDDEN = tuple(a + b for a, b in (("papers", ".md"), ("API", ".md"), ("peers", ".md"),
                                     ("style", ".md"), ("../", "shared")))
#: the notes' provenance tags and source keys (whole words, case-sensitive), also in pieces
TAGS = re.compile(r"\b(" + "|".join(a + b for a, b in (
    ("S", "AW"), ("REC", "ON"), ("REC", "ALL"), ("BR", "c"), ("BC", "c"), ("UQ", "c"))) + r")\b")
SUFFIXES = (".py", ".md", ".toml")


def _files() -> list[Path]:
    """Tracked files when git is available (a CI clone), else a walk of the tree."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True, timeout=60).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
                 if p.is_file() and not any(s.startswith(".") for s in p.relative_to(ROOT).parts)]
    return [ROOT / n for n in names if n.endswith(SUFFIXES)]


def test_scan_sees_the_repository() -> None:
    files = _files()
    assert len(files) > 50 and any(f.name == "pyproject.toml" for f in files)


def test_no_file_mentions_files_outside_the_repository() -> None:
    hits = []
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for k, line in enumerate(text.splitlines(), 1):
            if any(name in line for name in FORBIDDEN) or TAGS.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{k}: {line.strip()[:100]}")
    assert not hits, (f"{len(hits)} references to files outside the repository or to the private "
                      "notes' tags:\n" + "\n".join(hits[:40]))
