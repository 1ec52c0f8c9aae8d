"""The README is executable: every code block runs as written, as a new user would run it.

Each fenced block of ``README.md`` is one test case (id ``L<line>-<lang>``):

* ``python``: written to a file and run by a fresh interpreter in a temporary directory (exit 0).
* ``python`` preceded by ``<!-- readme-test: pytest -->``: a test file for the user's own suite;
  run with ``python -m pytest`` there, every test must pass.
* ``bash``: each command line (``\\`` continuations joined) is run by ``bash -c`` in one temporary
  working directory per block, in order, as from the repository root: the directory holds a copy
  of ``examples/`` (nothing is written into the repository), ``qopt`` and ``python`` are this
  interpreter with this checkout first on ``PYTHONPATH``. A line's exit status must be the one
  its comment states (``# exit N``), else 0. Commands must start with ``qopt``, ``python``,
  ``torchrun`` or ``pip``; ``pip install`` is never run but checked: the extras it names exist
  in ``pyproject.toml`` and the paths exist.
* ``toml``: parsed; a ``[protocol]`` table is validated by the study loader on the quick preset.
* ``text``: output shown for reading; not run.

A block that is illustrative and cannot run here is preceded by ``<!-- readme-test: skip (why)
-->`` (the reason is required and shown as the skip reason; its ``pip`` lines are still
checked); a block that takes minutes by ``<!-- readme-test: slow -->`` (run with ``-m slow``).
Relative links of the README must exist (``reproduction/REPORT.md`` is written by
``qopt reproduce`` and may be missing from a checkout).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import proc

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LANGS = ("python", "bash", "toml", "text")
COMMANDS = ("qopt", "python", "torchrun", "pip")
#: links that a checkout may lack (written by a command, committed separately)
OPTIONAL_LINKS = {"reproduction/REPORT.md"}
FAST_TIMEOUT, SLOW_TIMEOUT = 600, 3600  # seconds per command (a hung command fails the test)

_FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_DIRECTIVE = re.compile(r"<!--\s*readme-test:\s*((?:(?!-->).)*?)\s*-->\s*\Z", re.S)
_EXIT = re.compile(r"\s#.*?\bexit (\d+)\b")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    body: str
    directive: str  # "" | "slow" | "pytest" | "skip (reason)"

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.lang or 'none'}"

    @property
    def skip_reason(self) -> str | None:
        m = re.fullmatch(r"skip\s*\((.+)\)", self.directive, re.S)
        return m.group(1).strip() if m else None


def readme_blocks(text: str | None = None) -> list[Block]:
    """The fenced blocks of the README with the directive comment right above each (if any)."""
    text = README.read_text(encoding="utf-8") if text is None else text
    blocks = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()].rstrip()
        d = _DIRECTIVE.search(before)
        blocks.append(Block(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2),
                            d.group(1) if d else ""))
    return blocks


BLOCKS = readme_blocks()


def _marks(b: Block) -> list:
    """skip (with the README's reason), slow, or heavy: a block that runs is left out of the
    quick subset (it trains, or starts processes)."""
    if b.skip_reason is not None:
        return [pytest.mark.skip(reason=f"README: {b.skip_reason}")]
    if b.directive == "slow":
        return [pytest.mark.slow]
    return [pytest.mark.heavy] if b.lang in ("python", "bash") else []


def _params(langs: tuple[str, ...]) -> list:
    return [pytest.param(b, id=b.id, marks=_marks(b)) for b in BLOCKS if b.lang in langs]


# ----------------------------------------------------------------------------- structure
def test_blocks_are_tagged_and_directives_known():
    assert len(BLOCKS) >= 8, "the README lost its examples?"
    for b in BLOCKS:
        assert b.lang in LANGS, f"README line {b.line}: fence language {b.lang!r} not in {LANGS}"
        ok = b.directive in ("", "slow", "pytest") or b.skip_reason is not None
        assert ok, (f"README line {b.line}: unknown directive {b.directive!r} "
                    "(expected: skip (why) | slow | pytest)")
        if b.directive == "pytest":
            assert b.lang == "python", f"README line {b.line}: pytest directive on a {b.lang} block"


def test_the_parser_sees_directives():
    """The extraction itself: a directive binds to the next fence only, a skip needs a reason."""
    text = ("x\n<!-- readme-test: skip (needs CIFAR) -->\n\n```bash\nqopt a\n```\n"
            "```python\nprint(1)\n```\n<!-- readme-test: skip -->\n```bash\nb\n```\n")
    a, b, c = readme_blocks(text)
    assert (a.line, a.lang, a.body, a.skip_reason) == (4, "bash", "qopt a\n", "needs CIFAR")
    assert (b.directive, b.body) == ("", "print(1)\n")
    assert c.directive == "skip" and c.skip_reason is None


def test_skips_are_few():
    skipped = [b for b in BLOCKS if b.skip_reason is not None]
    assert len(skipped) <= 4, [b.id for b in skipped]


# ----------------------------------------------------------------------------- running
def _env(tmp: Path) -> dict[str, str]:
    bin_dir = tmp / ".bin"
    bin_dir.mkdir(exist_ok=True)
    for name, cmd in (("qopt", f'exec "{sys.executable}" -m qopt "$@"'),
                      ("python", f'exec "{sys.executable}" "$@"'),
                      ("torchrun", f'exec "{sys.executable}" -m torch.distributed.run "$@"')):
        p = bin_dir / name
        p.write_text(f"#!/bin/sh\n{cmd}\n")
        p.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("QOPT_TRACEBACK", None)
    return env


def _workdir(tmp: Path) -> Path:
    shutil.copytree(ROOT / "examples", tmp / "examples")
    return tmp


def _run(cmd: list[str] | str, cwd: Path, env: dict[str, str], timeout: float,
         shell: bool = False) -> subprocess.CompletedProcess:
    args = ["bash", "-c", cmd] if shell else cmd
    # every descendant is tagged and killed on a timeout (torchrun's ranks run in their own
    # sessions; a hung one would hold the pipes open and stall the suite)
    try:
        return proc.run(args, cwd=cwd, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"timed out after {timeout} s: {cmd}\nstdout:\n"
                             f"{(exc.stdout or '')[-3000:]}\nstderr:\n"
                             f"{(exc.stderr or '')[-3000:]}") from None


def _report(p: subprocess.CompletedProcess) -> str:
    return f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}"


def command_lines(body: str) -> list[str]:
    """Logical command lines of a bash block (continuations joined, comment-only lines out)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [ln for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def check_pip(command: str) -> None:
    """``pip install ...``: every ``-e PATH[extras]`` names an existing path and extras."""
    words = shlex.split(command, comments=True)
    assert words[:2] == ["pip", "install"], f"only 'pip install' is expected, got {command!r}"
    extras_known = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
                       ["optional-dependencies"])
    for i, w in enumerate(words[2:], 2):
        if words[i - 1] == "-e" or w.startswith((".", "/")):
            m = re.fullmatch(r"([^\[]+)(?:\[([\w,\-]+)\])?", w)
            assert m, f"cannot read the pip target {w!r}"
            assert (ROOT / m.group(1)).exists(), f"pip target path {m.group(1)!r} missing"
            extras = set(filter(None, (m.group(2) or "").split(",")))
            assert extras <= extras_known, f"unknown extras {extras - extras_known} in {command!r}"
        elif w.startswith("-"):
            assert w in ("-e", "--no-deps", "-U", "--upgrade", "--index-url") or \
                words[i - 1] == "--index-url", f"unexpected pip option {w!r}"


def _split_and(line: str) -> list[str]:
    code = line.split(" #", 1)[0]
    return [c.strip() for c in code.split("&&")]


#: a 2-rank gloo run of the README takes ~10 s; one run in ~20 was seen to leave one rank
#: hanging after the run finished (result printed) under heavy machine load, not reproduced in
#: isolation (an open defect, see the issue notes): a hung launch is killed and retried (3 tries)
TORCHRUN_TIMEOUT = 90


def _torchrun_line(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    for attempt in range(3):
        try:
            return _run(cmd, cwd, env, TORCHRUN_TIMEOUT, shell=True)
        except AssertionError as exc:
            if "timed out" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.mark.parametrize("block", _params(("bash",)))
def test_bash_block(block: Block, tmp_path: Path) -> None:
    cwd = _workdir(tmp_path)
    env = _env(tmp_path)
    timeout = SLOW_TIMEOUT if block.directive == "slow" else FAST_TIMEOUT
    for line in command_lines(block.body):
        parts = [c for c in _split_and(line) if c]
        to_run = []
        for c in parts:
            first = shlex.split(c)[0]
            assert first in COMMANDS, (f"README line {block.line}: {first!r} is not one of "
                                       f"{COMMANDS}; mark the block skip (why)")
            if first == "pip":
                check_pip(c)
            else:
                to_run.append(c)
        if not to_run:
            continue
        m = _EXIT.search(line)
        want = int(m.group(1)) if m else 0
        if to_run[0].startswith("torchrun"):
            p = _torchrun_line(" && ".join(to_run), cwd, env)
        else:
            p = _run(" && ".join(to_run), cwd, env, timeout, shell=True)
        assert p.returncode == want, (f"README line {block.line}: `{line.strip()}` exited "
                                      f"{p.returncode}, expected {want}\n{_report(p)}")
        if p.returncode == 2:  # a usage error is one line on stderr, never a traceback
            assert "Traceback" not in p.stderr, _report(p)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "bash"], ids=lambda b: b.id)
def test_pip_lines_name_existing_extras(block: Block) -> None:
    """Checked in every bash block, skipped and slow ones included (nothing is installed)."""
    for line in command_lines(block.body):
        for c in _split_and(line):
            if c.startswith("pip "):
                check_pip(c)


def test_pip_check_rejects_unknown_extras():
    with pytest.raises(AssertionError, match="unknown extras"):
        check_pip('pip install -e ".[test,nonexistent]"')
    with pytest.raises(AssertionError, match="missing"):
        check_pip("pip install -e ./no_such_dir")
    check_pip('pip install -e ".[test]"')


@pytest.mark.parametrize("block", _params(("python",)))
def test_python_block(block: Block, tmp_path: Path) -> None:
    cwd = _workdir(tmp_path)
    env = _env(tmp_path)
    timeout = SLOW_TIMEOUT if block.directive == "slow" else FAST_TIMEOUT
    if block.directive == "pytest":
        (cwd / "test_from_readme.py").write_text(block.body)
        p = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "test_from_readme.py"], cwd, env, timeout)
        assert p.returncode == 0 and " passed" in p.stdout and "failed" not in p.stdout, \
            f"README line {block.line}\n{_report(p)}"
        return
    (cwd / "snippet.py").write_text(block.body)
    p = _run([sys.executable, "snippet.py"], cwd, env, timeout)
    assert p.returncode == 0, f"README line {block.line}\n{_report(p)}"


@pytest.mark.parametrize("block", _params(("toml",)))
def test_toml_block(block: Block) -> None:
    data = tomllib.loads(block.body)
    if "protocol" in data:
        from qopt.study.config import parse_toml, study_from_dict
        from qopt.study.presets import PRESETS

        study = parse_toml(PRESETS["quick"])
        study["protocol"] = data["protocol"]
        study_from_dict(study)  # raises on an invalid protocol


# ----------------------------------------------------------------------------- quick subset
def test_quick_subset_is_configured():
    """The README's quick subset (-m "not slow and not heavy"): the markers are registered and
    every ``heavy_tests`` entry names an existing test file or directory (a renamed file must
    not silently move its tests into the quick subset)."""
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = {m.split(":")[0] for m in ini["markers"]}
    assert {"slow", "heavy"} <= markers
    assert ini["heavy_tests"], "no heavy tests listed: the quick subset is the whole suite"
    for entry in ini["heavy_tests"]:
        path, _, name = entry.partition("::")
        assert (ROOT / path).exists(), f"heavy_tests: {entry!r} not found"
        if name:
            assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), \
                f"heavy_tests: no test {name!r} in {path}"
    assert '-m "not slow and not heavy"' in README.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- links
def test_relative_links_exist():
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert links, "the README links nothing (docs, reproduction report)?"
    for link in links:
        if re.match(r"\w+://", link) or link.startswith("mailto:"):
            continue
        if link in OPTIONAL_LINKS and not (ROOT / link).exists():
            continue
        assert (ROOT / link).exists(), f"README links {link!r}, which does not exist"
    assert "docs/index.md" in links and "reproduction/REPORT.md" in links
