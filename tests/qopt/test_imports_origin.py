"""The rules of :mod:`qopt._imports` in process (the real entry points are exercised in
tests/safety/test_import_sources.py)."""

from __future__ import annotations

import sys

import pytest

import qopt._imports as imp


@pytest.fixture
def path(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), "/elsewhere"])
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setattr(imp, "_kept_implicit", None)
    return tmp_path


def test_the_implicit_working_directory_is_removed(path):
    imp.isolate_entry_path()
    assert sys.path == ["/elsewhere"] and imp._kept_implicit is None


@pytest.mark.parametrize("pythonpath", [".", "", "{cwd}", "/a:{cwd}", ":/a"])
def test_an_explicit_pythonpath_entry_keeps_it(path, monkeypatch, pythonpath):
    """``PYTHONPATH=.``, the absolute directory, or an empty component (Python reads it as
    the working directory) are explicit; ``PYTHONPATH=`` (empty) is not."""
    monkeypatch.setenv("PYTHONPATH", pythonpath.replace("{cwd}", str(path)))
    imp.isolate_entry_path()
    kept = sys.path[0] == str(path)
    assert kept == (pythonpath != "")


def test_a_first_entry_that_is_not_the_working_directory_stays(path, monkeypatch):
    monkeypatch.setattr(sys, "path", ["/bin-of-the-script", str(path)])
    imp.isolate_entry_path()
    assert sys.path == ["/bin-of-the-script", str(path)]


def test_a_checkout_run_in_place_is_kept_and_remembered(monkeypatch):
    monkeypatch.chdir(imp.ROOT)
    monkeypatch.setattr(sys, "path", [str(imp.ROOT), "/elsewhere"])
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setattr(imp, "_kept_implicit", None)
    imp.isolate_entry_path()
    assert sys.path[0] == str(imp.ROOT) and imp._kept_implicit == str(imp.ROOT)


def test_import_attr_names_a_file_of_the_working_directory_it_did_not_import(path):
    (path / "evilmod_xyz.py").write_text("raise SystemExit('imported!')\n")
    imp.isolate_entry_path()
    with pytest.raises(ValueError, match=r"evilmod_xyz.py in the working directory is not "
                                         r"imported.*PYTHONPATH="):
        imp.import_attr("evilmod_xyz:Net", "model")


def test_import_attr_refuses_the_kept_working_directory(path, monkeypatch):
    (path / "evilmod_xyz.py").write_text("raise SystemExit('imported!')\n")
    monkeypatch.setattr(imp, "_kept_implicit", str(path))
    with pytest.raises(ValueError, match="would be imported from the working directory"):
        imp.import_attr("evilmod_xyz:Net", "model")


def test_import_attr_resolves_installed_code_and_dotted_attributes():
    assert imp.import_attr("collections:OrderedDict.fromkeys", "model") is not None
    with pytest.raises(ValueError, match="has no attribute 'Nope'"):
        imp.import_attr("collections:Nope", "model")


def test_check_ours_accepts_ours_and_names_anything_else(tmp_path):
    imp.check_ours("theory", str(imp.ROOT / "theory"))
    with pytest.raises(imp.ShadowedPackage) as ei:
        imp.check_ours("theory", str(tmp_path / "theory.py"))
    msg = str(ei.value)
    assert "\n" not in msg and str(tmp_path / "theory.py") in msg
    assert str(imp.ROOT / "theory") in msg and "rename it" in msg
    assert isinstance(ei.value, ImportError)


def test_the_guard_is_installed_once_and_our_packages_pass_it():
    import qopt  # noqa: F401
    import theory  # noqa: F401

    imp.install_shadow_guard()
    assert sum(isinstance(f, imp.ShadowGuard) for f in sys.meta_path) == 1
    assert imp.ShadowGuard().find_spec("numpy") is None  # not one of ours: not looked at
