"""Studies are safe to edit (issue 10 items 2-4): nothing on disk changes until the whole study
validates; conflicts are errors; --set edits per-method settings; staged protocols; last-k and
95% intervals; workers die with the main process (issue 11 item 7). Includes the issue's
reproducers."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qopt.cli import main
from qopt.study import PRESETS, parse_toml, study_from_dict
from qopt.study.aggregate import aggregate, ci95_halfwidth

TINY = """
[study]
name = "tiny"
workers = 1
threads_per_worker = 1

[base]
dataset = "digits"
model = "mlp"
model_args = { hidden = [16] }
epochs = 1
batch_size = 256
lr = 0.05
diag_every = 0
log_every = 0

[grid]
method = ["float", "bcgd"]
weights = ["binary"]
seed = [0]
"""


def _files(d: Path) -> dict[str, int]:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}


def test_reproducer_edited_study_exits_2_and_leaves_every_file_untouched(tmp_path, monkeypatch,
                                                                        capsys):
    """`qopt study --show quick > my.toml`, edit epochs, `qopt study my.toml`: the bug was a
    traceback after study.toml had been overwritten while results.csv kept the old runs."""
    monkeypatch.chdir(tmp_path)
    Path("my.toml").write_text(TINY)
    assert main(["study", "my.toml"]) == 0
    out = tmp_path / "studies" / "tiny"
    before = _files(out)
    assert "study.toml" in before and "results.csv" in before
    Path("my.toml").write_text(TINY.replace("epochs = 1", "epochs = 2"))
    capsys.readouterr()
    assert main(["study", "my.toml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "epochs (1 -> 2)" in err and "--out" in err
    assert "run float_none_seed0" in err or "run float_seed0" in err
    assert _files(out) == before
    # a new output directory runs the edited study
    assert main(["study", "my.toml", "--out", "other"]) == 0
    assert json.loads((tmp_path / "other" / "runs" / "bcgd_binary_seed0" / "result.json")
                      .read_text())["epochs"] == 2


def test_compatible_extension_keeps_finished_runs_and_the_previous_study_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(TINY)
    out = tmp_path / "out"
    assert main(["study", str(f), "--out", str(out)]) == 0
    first = {k: v for k, v in _files(out).items() if k.endswith("result.json")}
    f.write_text(TINY.replace("seed = [0]", "seed = [0, 1]"))
    assert main(["study", str(f), "--out", str(out)]) == 0
    after = _files(out)
    assert {k: after[k] for k in first} == first
    assert len([k for k in after if k.endswith("result.json")]) == 4
    assert (out / "study.prev.toml").read_text() != (out / "study.toml").read_text()


def test_show_prints_the_preset_and_the_edited_study(capsys):
    assert main(["study", "--show", "quick"]) == 0
    assert parse_toml(capsys.readouterr().out) == parse_toml(PRESETS["quick"])
    assert main(["study", "--show", "quick", "--set", "methods.bcgd.rho=0.01",
                 "--set", "epochs=3"]) == 0
    shown = parse_toml(capsys.readouterr().out)
    assert shown["methods"]["bcgd"]["rho"] == 0.01
    assert "rho" not in shown["methods"]["bcgd"].get("method_args", {})
    assert shown["base"]["epochs"] == 3


def test_reproducer_per_method_table_cannot_silently_override_the_grid():
    """A [methods.bcgd] table silently overrode method_args given in [grid]: runs named
    rho0.01/rho0.5 all ran with rho = 1e-5. Now: an error naming both places."""
    text = TINY.replace('method = ["float", "bcgd"]', 'method = ["bcgd"]') + \
        "method_args = [{rho = 0.01}, {rho = 0.5}]\n[methods.bcgd]\nrho = 1e-5\n"
    with pytest.raises(ValueError, match=r"\['rho'\] given in both \[grid\] and "
                                         r"\[methods.bcgd\]"):
        study_from_dict(parse_toml(text))
    text2 = TINY + "[methods.bcgd]\nlr = 0.01\n"
    with pytest.raises(ValueError, match="'lr' is given in both"):
        study_from_dict(parse_toml(text2.replace("seed = [0]", "seed = [0]\nlr = [0.1]")))
    with pytest.raises(ValueError, match="both \\[base\\] and \\[grid\\]"):
        study_from_dict(parse_toml(TINY.replace("seed = [0]", "seed = [0]\nepochs = [2]")))


def test_grid_method_args_are_routed_and_run_ids_show_the_values_used():
    text = TINY.replace('method = ["float", "bcgd"]',
                        'method = ["float", "binaryconnect", "bcgd"]') + \
        "method_args = [{rho = 0.01}, {rho = 0.001}]\n"
    st = study_from_dict(parse_toml(text))
    ids = {c.run_id: c.config.method_args for c in st.cells}
    assert ids == {"float_none_seed0": {}, "binaryconnect_binary_seed0": {},
                   "bcgd_binary_seed0_rho0.01": {"rho": 0.01},
                   "bcgd_binary_seed0_rho0.001": {"rho": 0.001}}
    with pytest.raises(ValueError, match="no method of this study"):
        study_from_dict(parse_toml(TINY + "[base]\n".replace("[base]\n", "")),
                        {"method_args": {"lam0": 2.0}})


def test_reproducer_quick_preset_method_args_from_the_cli():
    """`qopt study quick --set 'method_args={rho=0.01}'` was refused because the float cell has
    no method args; `--set methods.bcgd.rho=0.01` must work too."""
    raw = parse_toml(PRESETS["quick"])
    for sets in ({"method_args": "{rho=0.01}"}, {"method_args": {"rho": 0.01}},
                 {"methods.bcgd.rho": 0.01}, {"method_args.rho": 0.01}):
        st = study_from_dict(raw, sets)
        bcgd = [c for c in st.cells if c.config.method == "bcgd"]
        assert bcgd and all(c.config.method_args["rho"] == 0.01 for c in bcgd)
        assert all(c.config.method_args == {} for c in st.cells
                   if c.config.method in ("float", "binaryconnect"))
        assert len(st.cells) == 48
    with pytest.raises(ValueError, match="unknown table"):
        study_from_dict(raw, {"nosuch.x": 1})
    with pytest.raises(ValueError, match="not a TrainConfig field"):
        study_from_dict(raw, {"lrate": 1})


def test_empty_study_is_an_error(tmp_path, capsys):
    (tmp_path / "empty.toml").write_text("")
    assert main(["study", str(tmp_path / "empty.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "defines no runs" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


STAGED = TINY.replace('method = ["float", "bcgd"]', 'method = ["float", "binaryconnect", "bcgd"]'
                      ).replace("seed = [0]", "seed = [0, 1]") + \
    '\n[protocol]\ninit_from = "float"\n'


def test_staged_protocol_links_each_run_to_the_float_run_of_its_seed():
    st = study_from_dict(parse_toml(STAGED))
    parents = {c.run_id: c.parent for c in st.cells}
    assert parents == {"float_none_seed0": None, "float_none_seed1": None,
                       "binaryconnect_binary_seed0": "float_none_seed0",
                       "binaryconnect_binary_seed1": "float_none_seed1",
                       "bcgd_binary_seed0": "float_none_seed0",
                       "bcgd_binary_seed1": "float_none_seed1"}
    only = study_from_dict(parse_toml(STAGED.replace('init_from = "float"',
                                                     'init_from = "float"\nmethods = ["bcgd"]')))
    assert {c.run_id for c in only.cells if c.parent} == {"bcgd_binary_seed0",
                                                          "bcgd_binary_seed1"}
    for bad, match in ((STAGED.replace('"float", "binaryconnect"', '"binaryconnect"'),
                        "has no 'float' run"),
                       (STAGED.replace("[base]", "[base]\ninit_from = 'x'"), "init_from is given"),
                       (STAGED.replace('init_from = "float"', 'init_from = "sgd"'),
                        "unknown method"),
                       (STAGED.replace("[protocol]", "[protocol]\nwhen = 1"), "unknown")):
        with pytest.raises(ValueError, match=match):
            study_from_dict(parse_toml(bad))


def test_staged_study_runs_parents_first_resumes_and_records_the_dependency(tmp_path):
    f = tmp_path / "staged.toml"
    f.write_text(STAGED)
    full = tmp_path / "full"
    assert main(["study", str(f), "--out", str(full)]) == 0
    from qopt.train.setup import file_sha256

    for kid, parent in (("bcgd_binary_seed1", "float_none_seed1"),
                        ("binaryconnect_binary_seed0", "float_none_seed0")):
        conf = json.loads((full / "runs" / kid / "config.json").read_text())
        pconf = json.loads((full / "runs" / parent / "config.json").read_text())
        assert conf["init_from"] == str(full / "runs" / parent)
        assert conf["init"]["sha256"] == file_sha256(full / "runs" / parent / "model.pt")
        assert conf["init"]["config_hash"] == pconf["config_hash"]
    # interrupted after 3 runs (the 2 parents first), then resumed: the same table
    part = tmp_path / "part"
    assert main(["study", str(f), "--out", str(part), "--max-runs", "3"]) == 0
    done = sorted(p.parent.name for p in part.glob("runs/*/result.json"))
    assert len(done) == 3 and {"float_none_seed0", "float_none_seed1"} <= set(done)
    assert main(["study", str(f), "--out", str(part)]) == 0

    def rows(d: Path) -> list:
        return [{k: v for k, v in r.items() if k != "wall_s_mean"}
                for r in json.loads((d / "results.json").read_text())["rows"]]

    assert rows(part) == rows(full)


def test_aggregate_reports_final_raw_best_last_k_with_t_intervals():
    """'test @ val-best' is the test accuracy at the epoch of the best VALIDATION accuracy
    (ties: the earliest), never the best test epoch."""
    from qopt.train.finish import best_epoch

    def run(seed, final, raw, hist, val):
        h = [{"epoch": i, "val_acc": v, "val_loss": 1.0, "test_acc": t, "test_loss": 1.0}
             for i, (t, v) in enumerate(zip(hist, val))]
        return {"run_id": f"r{seed}", "keys": {"method": "bcgd", "seed": seed},
                "result": {"final": {"test_acc": final, "test_loss": 1.0, "train_loss": 0.1},
                           "final_raw": {"test_acc": raw, "test_loss": 1.0},
                           **best_epoch(h), "wall_s": 1.0, "config": {"seed": seed},
                           "history": h}}

    runs = [run(0, 0.80, 0.70, [0.5, 0.9, 0.6, 0.7], [0.6, 0.5, 0.7, 0.7]),
            run(1, 0.84, 0.60, [0.6, 0.7, 0.8, 0.8], [0.9, 0.1, 0.1, 0.1]),
            run(2, 0.82, 0.65, [0.4, 0.5, 0.9, 0.6], [0.1, 0.2, 0.3, 0.4])]
    assert [r["result"]["best_epoch"] for r in runs] == [2, 0, 3]
    (row,) = aggregate(["method", "seed"], runs, last_k=2)
    assert row["test_acc_mean"] == pytest.approx(0.82)
    assert row["test_acc_std"] == pytest.approx(0.02)
    assert row["test_acc_ci95"] == pytest.approx(4.302652729749464 * 0.02 / math.sqrt(3))
    assert row["test_acc_raw_mean"] == pytest.approx(0.65)
    assert row["test_acc_at_best_val_mean"] == pytest.approx((0.6 + 0.6 + 0.6) / 3)
    assert row["best_val_acc_mean"] == pytest.approx((0.7 + 0.9 + 0.4) / 3)
    assert row["last_k_test_acc_mean"] == pytest.approx((0.65 + 0.8 + 0.75) / 3)
    assert math.isnan(ci95_halfwidth(0.0, 1))


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out |= {int(x) for x in text}
    return out


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_exit_when_the_main_process_is_killed(tmp_path):
    """kill -9 of the study's main process only: one worker busy in a long run, one idle
    (blocked on the task pipe) after a short run; both must exit within a few seconds."""
    text = TINY.replace("workers = 1", "workers = 2").replace(
        'method = ["float", "bcgd"]', 'method = ["float"]').replace(
        "seed = [0]", "seed = [0]\nepochs = [1, 400]").replace("epochs = 1\n", "")
    f = tmp_path / "s.toml"
    f.write_text(text)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "qopt", "study", str(f), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    workers: set[int] = set()
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            workers |= _children(proc.pid)
            if len(workers) >= 2 and list(out.glob("runs/*/result.json")) and \
                    list(out.glob("runs/*epochs400*/metrics.jsonl")):
                break
            time.sleep(0.05)
        assert len(workers) >= 2, "the study did not start two workers"
        assert list(out.glob("runs/*/result.json")), "the short run did not finish"
        os.kill(proc.pid, signal.SIGKILL)  # the main process only
        proc.wait()
        deadline = time.time() + 15
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "a worker outlived the main process"
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


def test_failed_parent_fails_its_children_with_one_line_errors(tmp_path, capsys):
    text = STAGED.replace("seed = [0, 1]", "seed = [0]") + \
        '\n[methods.float]\nlr = 1e30\nschedule = "constant"\n'
    f = tmp_path / "s.toml"
    f.write_text(text)
    out = tmp_path / "out"
    assert main(["study", str(f), "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert "float_none_seed0: FAILED: training diverged: non-finite loss at step" in printed.out
    for kid in ("binaryconnect_binary_seed0", "bcgd_binary_seed0"):
        assert (out / "runs" / kid / "error.txt").read_text().strip() == \
            "parent run float_none_seed0 failed"
        assert f"{kid}: FAILED: parent run float_none_seed0 failed" in printed.out
    err = (out / "runs" / "float_none_seed0" / "error.txt").read_text()
    assert err.count("\n") == 1 and "Traceback" not in err
