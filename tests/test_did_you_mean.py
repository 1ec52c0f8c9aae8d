"""Did-you-mean (issue 23): a misspelled method, set, preset, claim, figure or config key gets
the closest names (difflib) after the list of choices; a name close to nothing gets none."""

from __future__ import annotations

import pytest

from qopt.cli import main
from qopt.suggest import close_names, did_you_mean


def test_close_names_best_first_case_insensitive_and_never_the_name_itself():
    assert close_names("binaryrelx", ["float", "binaryconnect", "binaryrelax"])[0] == \
        "binaryrelax"
    assert close_names("BinaryRelax", ["binaryrelax"]) == ["binaryrelax"]
    assert close_names("zzz", ["binaryrelax", "bcgd"]) == []
    assert close_names("bcgd", ["bcgd"]) == []
    assert did_you_mean("quik", ["quick", "cifar10-vgg11"]) == "; did you mean 'quick'?"
    assert did_you_mean("zzz", ["quick"]) == ""


def test_theory_set_spec_suggests_the_kind_with_its_parameter():
    from theory import parse_qset

    with pytest.raises(ValueError, match=r"did you mean 'symmetric:2'\?"):
        parse_qset("symetric:2")
    with pytest.raises(ValueError, match=r"did you mean 'ternary'\?"):
        parse_qset("ternery")
    with pytest.raises(ValueError) as exc:
        parse_qset("zzzz:3")
    assert "did you mean" not in str(exc.value)


@pytest.mark.parametrize("argv, hint", [
    (["train", "--method", "binaryrelx", "--out", "{tmp}/x"], "did you mean 'binaryrelax'"),
    (["train", "--method", "bc", "--weights", "ternery", "--out", "{tmp}/x"],
     "did you mean 'ternary'"),
    (["train", "--set", "lrr=0.1", "--out", "{tmp}/x"], "lrr: did you mean 'lr'"),
    (["study", "quik", "--show"], "did you mean 'quick'"),
    (["study", "quick", "--set", "epoch=1", "--show"], "did you mean 'epochs'"),
    (["verify", "theory", "--only", "lemma1_symbolc"], "did you mean 'lemma1_symbolic'"),
    (["reproduce", "br-vs-cb", "--out", "{tmp}/r"], "did you mean 'br-vs-bc'"),
    (["figures", "--only", "study_curve", "--out", "{tmp}/f"], "did you mean 'study_curves'"),
])
def test_cli_errors_suggest_the_closest_name(argv, hint, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert hint in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())  # nothing written
