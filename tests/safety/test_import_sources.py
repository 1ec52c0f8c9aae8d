"""A config never runs code by accident (issue 18 item 5) and a shadowing module is named
(issue 20 item 8), under every entry point, in real processes.

``evilmod.py`` in the working directory writes a marker file when imported; a downloaded
``cfg.json`` names ``"model": "evilmod:Net"``. ``python -m qopt``, ``python -m qopt.cli``,
``torchrun -m qopt`` and the ``qopt`` console script must not import it unless the user put
the directory on ``PYTHONPATH`` explicitly (``PYTHONPATH=.`` counts)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.proc import run

ROOT = Path(__file__).resolve().parents[2]
EVIL = """\
import pathlib
pathlib.Path(__file__).with_name("PWNED").write_text("imported")
from torch import nn


class Net(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.f = nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.f(x)
"""
CFG = {"model": "evilmod:Net", "dataset": "digits", "epochs": 1, "num_threads": 1,
       "batch_size": 512, "log_every": 0, "diag_every": 0}


@pytest.fixture
def cwd(tmp_path):
    (tmp_path / "evilmod.py").write_text(EVIL)
    (tmp_path / "cfg.json").write_text(json.dumps(CFG))
    return tmp_path


def _env(pythonpath: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": pythonpath}


def _refused(r: subprocess.CompletedProcess, cwd: Path) -> None:
    assert r.returncode == 2, r.stderr
    assert not (cwd / "PWNED").exists()
    line = [ln for ln in r.stderr.splitlines() if "evilmod" in ln]
    assert len(line) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "in the working directory is not imported" in line[0]
    assert f"PYTHONPATH={cwd}" in line[0]


@pytest.mark.parametrize("entry", [["-m", "qopt"], ["-m", "qopt.cli"]])
def test_python_m_qopt_does_not_import_from_the_working_directory(cwd, entry):
    r = run([sys.executable, *entry, "train", "--config", "cfg.json", "--out", "r"],
            cwd=cwd, env=_env(str(ROOT)), timeout=300)
    _refused(r, cwd)


def test_console_script_does_not_import_from_the_working_directory(cwd, tmp_path_factory):
    """The installed script's shape (``from qopt.cli import main``) run from another
    directory: its own directory is first on sys.path, the working directory not at all."""
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "qopt").write_text("import sys\nfrom qopt.cli import main\nsys.exit(main())\n")
    r = run([sys.executable, str(bin_dir / "qopt"), "train", "--config", "cfg.json", "--out",
             "r"], cwd=cwd, env=_env(str(ROOT)), timeout=300)
    _refused(r, cwd)


def test_an_explicit_pythonpath_dot_still_imports(cwd):
    r = run([sys.executable, "-m", "qopt", "train", "--config", "cfg.json", "--out", "r"],
            cwd=cwd, env=_env(f"{ROOT}{os.pathsep}."), timeout=300)
    assert r.returncode == 0, r.stderr
    assert (cwd / "PWNED").exists() and (cwd / "r" / "result.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed")
def test_torchrun_m_qopt_does_not_import_from_the_working_directory(cwd):
    r = run(["torchrun", "--standalone", "--nproc-per-node", "1", "-m", "qopt", "train",
             "--config", "cfg.json", "--out", "r"], cwd=cwd, env=_env(str(ROOT)), timeout=300)
    assert r.returncode != 0 and not (cwd / "PWNED").exists()
    assert "in the working directory is not imported" in r.stderr


def test_a_checkout_run_in_place_keeps_its_packages_but_refuses_other_modules(tmp_path):
    """``python -m qopt`` from the source tree itself (qopt not installed, no PYTHONPATH):
    the tree stays on the path for theory/proofs_check/..., a module of the tree's root that
    is not ours is refused. Simulated on a copy of the tree."""
    tree = tmp_path / "tree"
    for pkg in ("qopt", "theory", "proofs_check", "figures", "benchmarks"):
        shutil.copytree(ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "evilmod.py").write_text(EVIL)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the copy must win over an installed qopt: run with -S (no site-packages .pth of an
    # editable install), then torch etc. must come from an explicit path
    site = [p for p in sys.path if p.endswith("site-packages")]
    env["PYTHONPATH"] = os.pathsep.join(site)
    (tmp_path / "cfg.json").write_text(json.dumps(CFG))
    r = run([sys.executable, "-S", "-m", "qopt", "train", "--config", str(tmp_path / "cfg.json"),
             "--out", str(tmp_path / "r")], cwd=tree, env=env, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "would be imported from the working directory" in r.stderr
    assert not (tree / "PWNED").exists()


# --------------------------------------------------------------------------- shadowing
@pytest.mark.parametrize("shadow", ["theory.py", "figures.py", "proofs_check/__init__.py"])
def test_a_users_module_shadowing_ours_is_named_in_one_line(tmp_path, shadow):
    """From Python (a script's directory is first on sys.path): the first import of the
    shadowed package fails with one line naming the file found, ours, and the fix."""
    f = tmp_path / shadow
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("X = 1\n")
    name = shadow.split("/")[0].removesuffix(".py")
    code = f"import qopt\nimport {name}\n"
    r = run([sys.executable, "-c", code], cwd=tmp_path, env=_env(str(ROOT)), timeout=120)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("qopt._imports.ShadowedPackage: qopt: ")
    assert f"{name!r} resolves to {tmp_path / name}" in last
    assert str(ROOT / name) in last and "rename it" in last
    # imported first, then qopt: import qopt itself says so
    r = run([sys.executable, "-c", f"import {name}\nimport qopt\n"], cwd=tmp_path,
            env=_env(str(ROOT)), timeout=120)
    assert r.returncode == 1 and "ShadowedPackage" in r.stderr.strip().splitlines()[-1]


def test_python_m_qopt_is_immune_to_a_shadowing_file_in_the_working_directory(tmp_path):
    (tmp_path / "theory.py").write_text("X = 1\n")
    r = run([sys.executable, "-m", "qopt", "verify", "theory", "--only", "cone_orthogonality"],
            cwd=tmp_path, env=_env(str(ROOT)), timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
