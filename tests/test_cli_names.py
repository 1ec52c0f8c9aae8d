"""The shared --only parser of `qopt figures` and `qopt bench`: order kept, unknown names -> 2."""

from qopt.cli import main
from qopt.commands import parse_names


def test_parse_names_splits_repeats_and_commas_in_order():
    assert parse_names(["b, a", "c"], ["a", "b", "c"], "p", "thing") == ["b", "a", "c"]
    assert parse_names(None, ["a"], "p", "thing") == []


def test_unknown_name_is_reported_and_returns_none(capsys):
    assert parse_names(["a,zzz"], ["a", "b"], "qopt x", "thing") is None
    err = capsys.readouterr().err
    assert "qopt x: error: unknown thing(s) zzz; known: a, b" in err


def test_figures_and_bench_exit_2_on_unknown_names(tmp_path, capsys):
    assert main(["figures", "--only", "no_such_figure", "--out", str(tmp_path)]) == 2
    assert "unknown figure(s) no_such_figure" in capsys.readouterr().err
    assert main(["bench", "--only", "no_such_section", "--out", str(tmp_path / "B.md")]) == 2
    assert "unknown section(s) no_such_section" in capsys.readouterr().err
    assert not (tmp_path / "B.md").exists()
