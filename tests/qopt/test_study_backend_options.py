"""Study backends (issue 15 item 5), their settings: the ``[backend]`` table of a study file and
``qopt study``'s backend flags (validated, with one-line errors, before anything runs), the
optional extras (imported lazily; a missing one is one line naming the pip command, exit 2),
and their documentation. No run is trained here; the execution is tested in
``test_study_backends.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from qopt.cli import main
from qopt.study import parse_toml, study_from_dict
from qopt.study.backends import BackendConfig
from qopt.study.backends.options import (
    FLAGS,
    RAY_KEYS,
    SLURM_KEYS,
    backend_from_table,
    parse_time_min,
    with_overrides,
)
from qopt.study.toml_out import to_toml
from tests.qopt.test_study_backends import STAGED

# --- options: the [backend] table and the CLI flags ------------------------------------------

@pytest.mark.parametrize("value,minutes", [
    (90, 90), ("90", 90), ("1:30", 2), ("04:00:00", 240), ("1-12", 2160), ("1-12:30", 2190),
    ("0-00:00:30", 1), ("2-00:00:00", 2880)])
def test_slurm_time_forms_in_whole_minutes(value, minutes):
    assert parse_time_min(value) == minutes


@pytest.mark.parametrize("value", [0, -5, True, "", "abc", "1:2:3:4", "0:00", 1.5])
def test_bad_slurm_times_are_errors(value):
    with pytest.raises(ValueError, match="time"):
        parse_time_min(value)


@pytest.mark.parametrize("table,match", [
    ({"name": "kubernetes"}, "name must be one of"),
    ({"nodes": 2}, "unknown \\[backend\\] keys"),
    ({"slurm": {"partiton": "gpu"}}, "unknown \\[backend.slurm\\] key 'partiton'"),
    ({"slurm": {"gpus_per_run": -1}}, "gpus_per_run must be an int >= 0"),
    ({"slurm": {"gpus_per_run": 0.5}}, "gpus_per_run must be an int"),
    ({"slurm": {"cpus_per_run": 0}}, "cpus_per_run must be an int >= 1"),
    ({"slurm": {"array_parallelism": "8"}}, "array_parallelism"),
    ({"slurm": {"mem_gb": 0}}, "mem_gb"),
    ({"slurm": {"cluster": "pbs"}}, "cluster must be one of"),
    ({"slurm": {"setup": "module load cuda"}}, "setup must be a list"),
    ({"slurm": {"additional": {"exclusive": True}}}, "additional"),
    ({"slurm": {"partition": ""}}, "partition must be a non-empty string"),
    ({"ray": {"address": "auto", "num_cpus": 4}}, "embedded"),
    ({"ray": {"gpus_per_run": -1}}, "gpus_per_run"),
    ({"ray": "auto"}, "\\[backend.ray\\] must be a table"),
])
def test_bad_backend_tables_fail_before_anything_runs(table, match):
    with pytest.raises(ValueError, match=match):
        backend_from_table(table)
    with pytest.raises(ValueError, match=match):  # also through the study file
        study_from_dict({**parse_toml(STAGED), "backend": table})


def test_backend_table_round_trips_and_cli_flags_override_it():
    text = STAGED + """
[backend]
name = "slurm"

[backend.slurm]
partition = "gpu"
time = "01:30:00"
setup = ["module load cuda"]
additional = { exclude = "node3", nice = 10 }

[backend.ray]
num_cpus = 3
"""
    raw = parse_toml(text)
    assert parse_toml(to_toml(raw)) == raw  # study.toml records it faithfully
    st = study_from_dict(raw)
    b = st.backend
    assert (b.name, b.slurm.partition, b.slurm.time_min) == ("slurm", "gpu", 90)
    assert b.slurm.setup == ("module load cuda",) and b.slurm.additional["nice"] == 10
    assert b.ray.num_cpus == 3 and b.ray.address is None
    # the CLI keeps the file's settings and replaces the ones it names
    c = with_overrides(b, None, time="2:00:00", gpus_per_run=1, array_parallelism=4)
    assert (c.slurm.partition, c.slurm.time_min, c.slurm.gpus_per_run) == ("gpu", 120, 1)
    assert c.slurm.array_parallelism == 4 and c.slurm.setup == b.slurm.setup
    r = with_overrides(b, "ray", num_cpus=2, gpus_per_run=0.5)
    assert (r.name, r.ray.num_cpus, r.ray.gpus_per_run) == ("ray", 2, 0.5)
    with pytest.raises(ValueError, match="--partition applies to --backend slurm, not ray"):
        with_overrides(b, "ray", partition="gpu")
    with pytest.raises(ValueError, match="--num-cpus applies to --backend ray, not slurm"):
        with_overrides(b, None, num_cpus=2)
    with pytest.raises(ValueError, match="cannot be combined"):
        with_overrides(b, "ray", address="auto")  # the file's num_cpus = 3
    # --set reaches the table too
    st2 = study_from_dict(raw, {"backend.slurm.qos": "high"})
    assert st2.backend.slurm.qos == "high" and study_from_dict(parse_toml(STAGED)).backend \
        == BackendConfig()


def test_bad_backend_flags_exit_2_with_one_line(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text(STAGED)
    for argv, match in ((["--backend", "ray", "--partition", "gpu"], "--partition applies"),
                        (["--backend", "slurm", "--time", "1:2:3:4"], "time"),
                        (["--backend", "slurm", "--gpus-per-run", "0.5"], "gpus_per_run")):
        assert main(["study", str(f), "--out", str(tmp_path / "o"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err
    assert not (tmp_path / "o").exists()


# --- optional extras: lazy, and a clear error when missing -----------------------------------

def test_importing_qopt_and_study_help_do_not_import_submitit_or_ray():
    code = ("import sys\nimport qopt, qopt.study, qopt.study.runner, qopt.study.backends\n"
            "from qopt.cli import main\n"
            "try:\n    main(['study', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in ('submitit', 'ray') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "--backend {local,slurm,ray}" in out and "--address" in out
    assert out.strip().endswith("LOADED []")


@pytest.mark.parametrize("backend,module", [("slurm", "submitit"), ("ray", "ray")])
def test_missing_extra_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, monkeypatch,
                                                            backend, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    f = tmp_path / "s.toml"
    f.write_text(STAGED)
    assert main(["study", str(f), "--out", str(tmp_path / "o"), "--backend", backend]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"pip install 'qopt[{backend}]'" in err
    assert not (tmp_path / "o").exists()


def test_every_backend_key_and_flag_is_documented():
    """docs/formats.md names every [backend] key the loader accepts and every backend flag."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text()
    documented = set(re.findall(r"`([^`\n]+)`", text))
    missing = [k for k in ["[backend]", "[backend.slurm]", "[backend.ray]", *SLURM_KEYS,
                           *RAY_KEYS] if k not in documented]
    missing += [f"--{f.replace('_', '-')}" for f in FLAGS
                if f"--{f.replace('_', '-')}" not in documented]
    assert not missing, f"document {missing} in docs/formats.md (study.toml section)"
