"""The one atomic writer (qopt.io): umask-respecting mode, fsync of file and directory, no torn
or leftover files on failure, and no second writer anywhere in the code base."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

import qopt.io as qio
from qopt.io import atomic_torch_save, atomic_write, atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def umask():
    """Set a umask for the test, restore the previous one afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda m: os.umask(m)
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o027])
def test_mode_follows_the_umask(tmp_path, umask, mask):
    umask(mask)
    p = atomic_write_text(tmp_path / "a.txt", "x")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    # the same as a plain open() under that umask
    q = tmp_path / "plain.txt"
    q.write_text("x")
    assert stat.S_IMODE(p.stat().st_mode) == stat.S_IMODE(q.stat().st_mode)


def test_replaces_content_and_fsyncs_file_and_directory(tmp_path, monkeypatch):
    synced: list[str] = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd")
                      else str(fd))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    p = tmp_path / "sub" / "r.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"a": 2, "nan": float("nan")})
    assert json.loads(p.read_text()) == {"a": 2, "nan": None}
    assert len(synced) == 4  # file + directory, twice
    if os.path.exists("/proc/self/fd"):
        assert any(s.endswith(".tmp") for s in synced)
        assert str(p.parent) in synced
    assert sorted(os.listdir(p.parent)) == ["r.json"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "r.txt"
    atomic_write_text(p, "old")

    def boom(fh):
        fh.write(b"half of the new cont")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        atomic_write(p, boom)
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["r.txt"]
    with pytest.raises(TypeError, match="not JSON serialisable"):
        atomic_write_json(p, {"a": object()})
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["r.txt"]


def test_unwritable_directory_is_an_oserror(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        if os.access(d, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip("directory permissions not enforced for this user")
        with pytest.raises(PermissionError):
            atomic_write_text(d / "x.txt", "x")
    finally:
        d.chmod(0o700)


def test_torch_save_round_trip_and_numpy_json(tmp_path):
    import numpy as np
    import torch

    p = atomic_torch_save(tmp_path / "t.pt", {"w": torch.arange(3.0)})
    assert torch.equal(torch.load(p, weights_only=True)["w"], torch.arange(3.0))
    atomic_write_json(tmp_path / "n.json", {"a": np.float32(0.5), "b": np.arange(2),
                                            "t": torch.tensor([1.0, float("inf")])})
    assert json.loads((tmp_path / "n.json").read_text()) == {"a": 0.5, "b": [0, 1],
                                                           "t": [1.0, None]}


def test_old_import_path_still_works():
    from qopt.train import atomic_write_json as a
    from qopt.train.io import atomic_torch_save as b
    from qopt.train.io import atomic_write_text as c

    assert a is atomic_write_json and b is atomic_torch_save and c is atomic_write_text


def test_figures_benchmarks_and_reports_use_the_one_writer(tmp_path, umask):
    """Every writer routes through qopt.io: the file modes follow the umask everywhere."""
    umask(0o027)
    from proofs_check.report import write_json_atomic

    write_json_atomic({"x": 1}, tmp_path / "rep.json")
    from benchmarks.suite import _atomic_write

    _atomic_write(tmp_path / "b.md", "x")
    for name in ("rep.json", "b.md"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640


_FORBIDDEN = re.compile(r"mkstemp|NamedTemporaryFile|os\.replace\(|os\.rename\(")
#: files allowed to rename: the writer itself and the checkpoint rotation (a rename of a file
#: the writer already wrote durably)
_ALLOWED = {"qopt/io.py", "qopt/train/checkpoint.py"}


def test_no_second_atomic_writer_in_the_code_base():
    offenders = []
    for pkg in ("qopt", "theory", "proofs_check", "figures", "benchmarks"):
        for f in sorted((ROOT / pkg).rglob("*.py")):
            rel = f.relative_to(ROOT).as_posix()
            if rel in _ALLOWED:
                continue
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if _FORBIDDEN.search(line) and not line.lstrip().startswith(("#", '"', "``")):
                    offenders.append(f"{rel}:{i}: {line.strip()}")
    assert not offenders, "write files through qopt.io.atomic_write:\n" + "\n".join(offenders)


def test_module_has_no_heavy_imports():
    src = Path(qio.__file__).read_text(encoding="utf-8")
    top = [ln for ln in src.splitlines() if ln.startswith(("import ", "from "))]
    assert not any("torch" in ln or "numpy" in ln for ln in top), top
