"""Progress of long commands: a bar on a terminal, one flushed line per unit otherwise."""

from __future__ import annotations

import io

from qopt.commands.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_when_not_a_terminal():
    out = io.StringIO()
    with Progress("verify theory", total=3, stream=out) as p:
        assert not p.tty
        p.update("claim_a")
        p.write("a full line")
        p.update("claim_b")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[verify theory] 1/3 claim_a (") and lines[0].endswith(" s)")
    assert lines[1] == "a full line"
    assert lines[2].startswith("[verify theory] 2/3 claim_b")


def test_bar_on_a_terminal_and_lines_above_it():
    out = _Tty()
    p = Progress("bench projection", stream=out)
    assert p.tty
    p.set_total(4)
    p.update("binary n=1e4")
    p.write("[bench] projection started")
    p.close()
    text = out.getvalue()
    assert "\r" in text and "1/4" in text and "binary n=1e4" in text  # a redrawn bar
    assert "[bench] projection started\n" in text


def test_unknown_total_counts_units():
    out = io.StringIO()
    p = Progress("figures", stream=out, tty=False)
    p.update("a")
    p.update("b")
    assert out.getvalue().splitlines()[1].startswith("[figures] 2 b")
