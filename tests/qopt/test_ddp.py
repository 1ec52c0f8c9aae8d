"""Data parallel training through ``torchrun`` with the gloo backend and 2 CPU processes: the
same CLI code path; DDP equals the single-process run (global batch = union of the ranks'
batches, mean loss) and, for a quantized method, every rank ends with bitwise identical model
and optimizer state (latent weights included)."""

import json
import socket
import subprocess
import sys

import torch

from qopt.train import TrainConfig, train
from tests import proc

#: 640 samples: 512 training, of which val_frac = 0.125 (64) are held out for validation and
#: 448 = 7 global batches of 64 are fitted, so DDP's two half batches cover exactly the single
#: process's batches (a ragged last batch would be padded by the distributed sampler)
BASE = ["--dataset", "mnist1d", "--dataset-args", "{num_samples=640}", "--val-frac", "0.125",
        "--model", "mlp",
        "--model-args", "{hidden=[32]}", "--epochs", "2", "--batch-size", "64", "--lr", "0.1",
        "--num-threads", "1", "--diag-every", "4"]


def _free_port() -> int:
    # a fixed port collides when two test runs share a machine: the ranks then wait forever
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(out, extra, attempts: int = 3):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(_free_port()), "-m", "qopt", "train", *BASE, *extra,
           "--out", str(out)]
    try:
        p = proc.run(cmd, timeout=90)
    except subprocess.TimeoutExpired:
        # one launch in ~20 was seen to leave a rank hanging (in a futex wait) after the run had
        # finished, under heavy machine load; not reproduced in isolation; an open defect.
        # proc.run killed every process of the launch; try again (the run resumes)
        if attempts > 1:
            return _torchrun(out, extra, attempts - 1)
        raise
    err = p.stderr
    assert p.returncode == 0, err[-3000:]
    return json.loads((out / "result.json").read_text())


def _cfg(**kw):
    return TrainConfig.from_dict(dict(dataset="mnist1d", dataset_args={"num_samples": 640},
                                      val_frac=0.125, model="mlp", model_args={"hidden": [32]},
                                      epochs=2, batch_size=64, lr=0.1, num_threads=1,
                                      diag_every=4, **kw))


def test_ddp_gloo_two_processes(tmp_path):
    # float: DDP's averaged gradient of two half batches = the full-batch gradient, so the
    # weights agree with one process up to float32 summation order (tolerance 1e-5).
    res = _torchrun(tmp_path / "ddp_float", [])
    assert res["world_size"] == 2 and res["ranks_identical"]
    train(_cfg(), tmp_path / "single", resume=False)
    a = torch.load(tmp_path / "ddp_float" / "model.pt")
    b = torch.load(tmp_path / "single" / "model.pt")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-5)
    # quantized (BCGD, ternary): latent weights and all optimizer state identical on both ranks
    # with BatchNorm: the final re-estimation runs on both ranks' shards, averaged
    res = _torchrun(tmp_path / "ddp_bcgd", ["--method", "bcgd", "--weights", "ternary",
                                            "--keep-float", "[]", "--model-args",
                                            "hidden=[32],batch_norm=true",
                                            "--bn-recalib-batches", "4"])
    assert res["ranks_identical"] is True and res["world_size"] == 2
    assert res["final"]["bn_recalibrated"] and res["bn_recalibration"]["batches"] == 4
    recs = [json.loads(x) for x in (tmp_path / "ddp_bcgd" / "metrics.jsonl").open()]
    assert any(r["type"] == "diag" for r in recs) and any(r["type"] == "probe" for r in recs)
    from proofs_check.run import verify_run

    rep = verify_run(tmp_path / "ddp_bcgd")
    assert rep.passed, rep.table()
