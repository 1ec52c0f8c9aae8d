"""Damaged checkpoints are detected (checksum), the previous one is used (or named), resumes say
when the metrics log lost records, and a run directory has one writer at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import torch

from qopt.cli import main
from qopt.train import TrainConfig, read_jsonl, train
from qopt.train.checkpoint import (
    CHECKPOINT,
    PREVIOUS,
    CheckpointError,
    CheckpointWarning,
    decode_checkpoint,
    encode_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from qopt.train.lock import RunLock, RunLockedError

TINY = dict(dataset="digits", model="mlp", model_args={"hidden": [16]}, epochs=3,
            batch_size=256, lr=0.05, log_every=2, diag_every=2, num_threads=1,
            method="binaryrelax", weights="ternary")
ARGV = ["train", "--dataset", "digits", "--model", "mlp", "--model-args", "{hidden=[16]}",
        "--epochs", "3", "--batch-size", "256", "--lr", "0.05", "--log-every", "2",
        "--diag-every", "2", "--num-threads", "1", "--method", "binaryrelax", "--weights",
        "ternary"]


def cfg() -> TrainConfig:
    return TrainConfig.from_dict(dict(TINY))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, and a run stopped after 2 of 3 epochs (two checkpoints kept)."""
    root = tmp_path_factory.mktemp("ck")
    full = train(cfg(), root / "full", resume=False)
    assert train(cfg(), root / "cut", resume=False, stop_after_epochs=2) is None
    return root, full


def _copy_cut(reference, tmp_path):
    import shutil

    root, _ = reference
    dst = tmp_path / "run"
    shutil.copytree(root / "cut", dst)
    return dst


def _final_weights(run):
    return torch.load(run / "model.pt", weights_only=True)


def _assert_like_full(reference, run):
    root, _ = reference
    a, b = _final_weights(root / "full"), _final_weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _flip_bit(path, frac):
    data = bytearray(path.read_bytes())
    i = min(int(frac * len(data)), len(data) - 1)
    data[i] ^= 0x10
    path.write_bytes(bytes(data))


DAMAGE = {
    "flip_header_digest": lambda p: _flip_bit(p, 30 / p.stat().st_size),
    "flip_payload_start": lambda p: _flip_bit(p, 0.05),
    "flip_payload_middle": lambda p: _flip_bit(p, 0.5),
    "flip_last_byte": lambda p: _flip_bit(p, 1.0),
    "truncate_half": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "truncate_to_header": lambda p: p.write_bytes(p.read_bytes()[:90]),
    "truncate_empty": lambda p: p.write_bytes(b""),
    "zero_fill": lambda p: p.write_bytes(bytes(p.stat().st_size)),
    "zero_block": lambda p: p.write_bytes(p.read_bytes()[:200] + bytes(4096)
                                          + p.read_bytes()[4296:]),
    "garbage": lambda p: p.write_bytes(b"not a checkpoint at all\n" * 10),
    "delete": lambda p: p.unlink(),
}


def test_two_checkpoints_are_kept_and_checksummed(reference):
    root, _ = reference
    cur = load_checkpoint(root / "cut")
    assert cur["epoch"] == 2 and cur["_file"] == CHECKPOINT
    assert (root / "cut" / PREVIOUS).exists()
    raw = (root / "cut" / PREVIOUS).read_bytes()
    assert raw.startswith(b"QOPT-CHECKPOINT 1 sha256=")
    assert decode_checkpoint(raw)["epoch"] == 1


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_latest_checkpoint_falls_back_to_previous(reference, tmp_path, damage):
    run = _copy_cut(reference, tmp_path)
    DAMAGE[damage](run / CHECKPOINT)
    with pytest.warns(CheckpointWarning, match=r"resuming from .*checkpoint\.prev\.pt.*epoch 1"):
        res = train(cfg(), run, resume=True)
    assert res["epochs"] == 3
    _assert_like_full(reference, run)  # the fallback recomputes epoch 2 identically
    if damage != "delete":
        assert (run / (CHECKPOINT + ".damaged")).exists()
    assert len(read_jsonl(run / "metrics.jsonl")) == len(read_jsonl(
        reference[0] / "full" / "metrics.jsonl"))


@pytest.mark.parametrize("damage", sorted(set(DAMAGE) - {"delete"}))
def test_no_good_checkpoint_left_is_one_clear_error(reference, tmp_path, damage, capsys):
    run = _copy_cut(reference, tmp_path)
    DAMAGE[damage](run / CHECKPOINT)
    (run / PREVIOUS).unlink()
    with pytest.raises(CheckpointError, match="no usable checkpoint.*--no-resume"):
        load_checkpoint(run)
    code = main([*ARGV, "--out", str(run)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "checkpoint.pt" in err


def test_both_checkpoints_damaged_names_both(reference, tmp_path):
    run = _copy_cut(reference, tmp_path)
    DAMAGE["flip_payload_middle"](run / CHECKPOINT)
    DAMAGE["zero_fill"](run / PREVIOUS)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(run)
    msg = str(info.value)
    assert "checkpoint.pt' is damaged: checksum mismatch" in msg
    assert "checkpoint.prev.pt' is not a qopt checkpoint" in msg


def test_single_bit_flips_anywhere_are_detected():
    state = {"w": torch.arange(64.0), "epoch": 3}
    data = encode_checkpoint(state)
    step = max(1, len(data) // 97)
    for i in range(0, len(data), step):
        for bit in (0, 7):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(CheckpointError):
                decode_checkpoint(bytes(bad))
    assert torch.equal(decode_checkpoint(data)["w"], state["w"])


class Opaque:
    """A custom class: torch.save pickles it, weights_only loading refuses it."""


def test_state_that_cannot_be_loaded_safely_is_refused_when_written(tmp_path):
    with pytest.raises(CheckpointError, match="could not be loaded back safely"):
        save_checkpoint(tmp_path, {"x": Opaque()})
    assert not (tmp_path / CHECKPOINT).exists()


def _forge_identity(path, config):
    """Rewrite the checkpoint ``path`` (valid checksum) claiming the identity of ``config``."""
    from qopt.train.checkpoint import read_checkpoint
    from qopt.train.record import run_record

    state = read_checkpoint(path)
    rec = run_record(config)
    state["identity"] = {"config_hash": rec["config_hash"], "record": rec}
    path.write_bytes(encode_checkpoint(state))


def test_checkpoint_that_does_not_fit_the_model_is_one_clear_error(reference, tmp_path, capsys):
    run = _copy_cut(reference, tmp_path)
    (run / "config.json").unlink()  # no config to compare: the checkpoint's identity is
    code = main([*ARGV, "--model-args", "{hidden=[8]}", "--out", str(run)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "is a checkpoint of another run" in err and "model_args.hidden" in err, err
    # a forged identity (valid checksum): the state itself is still checked
    other = TrainConfig.from_dict({**TINY, "model_args": {"hidden": [8]}})
    for name in (CHECKPOINT, "checkpoint.prev.pt"):
        _forge_identity(run / name, other)
    code = main([*ARGV, "--model-args", "{hidden=[8]}", "--out", str(run)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "model state does not fit this run" in err


@pytest.mark.parametrize("how", ["missing", "truncated", "edited"])
def test_resume_says_when_the_metrics_log_lost_records(reference, tmp_path, capsys, how):
    run = _copy_cut(reference, tmp_path)
    log = run / "metrics.jsonl"
    if how == "missing":
        log.unlink()
    elif how == "truncated":
        log.write_bytes(log.read_bytes()[: log.stat().st_size // 3])
    else:
        data = bytearray(log.read_bytes())
        data[10] = ord("9") if data[10] != ord("9") else ord("8")
        log.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)
        train(cfg(), run, resume=True)
    err = capsys.readouterr().err
    word = {"missing": "is missing", "truncated": "is truncated", "edited": "was modified"}[how]
    assert "metrics.jsonl" in err and word in err, err


def test_intact_resume_is_silent(reference, tmp_path, capsys):
    run = _copy_cut(reference, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(cfg(), run, resume=True)
    assert "warning" not in capsys.readouterr().err
    _assert_like_full(reference, run)


# ----------------------------------------------------------------------------- run lock
def test_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    run = tmp_path / "run"
    with RunLock(run):
        with pytest.raises(RunLockedError, match=rf"in use by pid {os.getpid()} on host "):
            RunLock(run).acquire()
        code = main([*ARGV, "--out", str(run)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        assert f"pid {os.getpid()}" in err and "since" in err
        assert not (run / "metrics.jsonl").exists()  # refused before writing anything
    with RunLock(run) as lock:  # released on exit
        assert lock.held


_HOLDER = textwrap.dedent("""
    import sys, time
    from qopt.train.lock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(600)
""")


def test_lock_dies_with_its_process(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    p = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run)], stdout=subprocess.PIPE,
                         text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {p.pid}"):
            RunLock(run).acquire()
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        deadline = time.time() + 10
        while True:
            try:
                RunLock(run).acquire().release()
                break
            except RunLockedError:
                assert time.time() < deadline
                time.sleep(0.05)
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()


def test_resume_under_another_thread_count_warns(tmp_path):
    """Measured (README, determinism): the torch thread count changes the bits of CPU training,
    so a resume under another count is said to be not bit-identical."""
    from qopt.train.checkpoint import restore_checkpoint

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    save_checkpoint(tmp_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                               "scheduler": sched.state_dict(), "rng": {}, "epoch": 1,
                               "step": 1, "history": [], "metrics_offset": 0})
    ck = load_checkpoint(tmp_path)
    assert ck["torch_threads"] == torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restore_checkpoint(ck, model, opt, sched, tmp_path)
    with pytest.warns(CheckpointWarning, match="not be bit-identical"):
        restore_checkpoint({**ck, "torch_threads": ck["torch_threads"] + 1}, model, opt, sched,
                           tmp_path)
