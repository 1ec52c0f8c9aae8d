"""Zero tracebacks for user errors: a data-driven table of bad inputs.

One row = one bad input and what must happen:

* CLI rows: ``argv`` -> exit code and a fragment of the ONE line on stderr (no traceback);
* API rows: ``call(files)`` -> exception type (``ValueError`` / ``TypeError`` by the house
  convention, or a documented subclass) and a fragment of its message, which names the argument.

Placeholders in argv: ``{name}`` = a prepared file of the ``files`` fixture, ``{fresh}`` = a new
empty path for this row. A row that fails because of code owned by another engineer is marked
``xfail(strict=True)`` with the owner: it turns into a failure the day the owner fixes it, so the
mark must then be removed.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from qopt.cli import main

APP = "owned by app (trainer config / study)"


def xfail(owner: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=owner)


def row(rid: str, *values: object, owner: str | None = None):
    return pytest.param(*values, id=rid, marks=[xfail(owner)] if owner else [])


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Prepared bad (and good) files, by name."""
    from qopt.train import TrainConfig, train
    from qopt.train.lock import RunLock

    d = tmp_path_factory.mktemp("bad")
    f: dict[str, str] = {"dir": str(d)}

    def put(name: str, content: str | bytes) -> str:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
        f[name.replace("/", "_").replace(".", "_")] = str(p)
        return str(p)

    # CIFAR: a complete directory whose first batch is garbage
    cif = d / "cifar" / "cifar-10-batches-py"
    cif.mkdir(parents=True)
    for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(cif / n, "wb") as fh:
            pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, fh)
    (cif / "data_batch_1").write_bytes(b"\x00garbage" * 10)
    f["cifar_corrupt"] = str(d / "cifar")
    # init files
    put("init_random.pt", bytes(range(256)) * 4)
    put("init_text.pt", "this is not a torch file\n")
    torch.save({"weight": torch.zeros(3, 3)}, d / "init_mismatch.pt")
    f["init_mismatch_pt"] = str(d / "init_mismatch.pt")
    torch.save([1, 2, 3], d / "init_list.pt")
    f["init_list_pt"] = str(d / "init_list.pt")
    # configs
    put("bad.toml", "epochs = [\n")
    put("unknown_key.toml", "lrate = 0.1\n")
    put("wrong_type.toml", "epochs = 'ten'\n")
    put("empty_study.toml", "")
    put("study_bad.toml", "[study\nname = 'x'\n")
    put("study_unknown.toml", "[study]\nname = 'x'\nbogus = 1\n")
    put("study_grid_bad.toml", "[study]\nname = 'x'\n[grid]\nlr = [-1.0]\n")
    put("study_grid_dup.toml", "[study]\nname = 'x'\n[grid]\nseed = [0, 1, 0]\n")
    # quantizer files
    put("q.py", "import numpy as np\ndef f(w):\n"
                "    return np.abs(w).mean() * np.where(w >= 0, 1.0, -1.0)\nX = 3\n")
    put("q_exit.py", "import sys\nsys.exit(0)\n")
    put("q_syntax.py", "def f(w:\n")
    # verify-run directories
    put("run5/config.json", json.dumps({"method": 5, "weights": "binary"}))
    put("run5/metrics.jsonl", json.dumps({"type": "diag", "step": 0, "epoch": 0,
                                          "fc.weight/orth_rel": 0.0}) + "\n")
    put("runbadjson/config.json", "{not json")
    put("runbadjson/metrics.jsonl", "")
    put("runlist/config.json", "[1, 2]")
    put("runlist/metrics.jsonl", "")
    put("runnometrics/config.json", json.dumps({"method": "bcgd", "weights": "binary"}))
    put("runnodiag/config.json", json.dumps({"method": "bcgd", "weights": "binary"}))
    put("runnodiag/metrics.jsonl", json.dumps({"type": "eval", "step": 0, "epoch": 0}) + "\n")
    put("runbadweights/config.json", json.dumps({"method": "bcgd", "weights": "quaternary"}))
    put("runbadweights/metrics.jsonl", "")
    put("runstr/config.json", json.dumps({"method": "bcgd", "weights": "binary"}))
    put("runstr/metrics.jsonl", json.dumps({"type": "diag", "step": 0, "epoch": 0,
                                            "fc.weight/orth_rel": "zero"}) + "\n")
    (d / "emptydir").mkdir()
    f["emptydir"] = str(d / "emptydir")
    put("plainfile", "x")
    put("bench.json", "{broken")
    # a run interrupted after one epoch (to resume with another config / a damaged checkpoint)
    cfg = TrainConfig.from_dict(dict(dataset="digits", model="mlp", epochs=2, num_threads=1,
                                     batch_size=512, log_every=0, diag_every=0))
    for name in ("cut", "damaged"):
        train(cfg, d / name, resume=False, stop_after_epochs=1)
        f[name] = str(d / name)
    ck = d / "damaged" / "checkpoint.pt"
    data = bytearray(ck.read_bytes())
    data[len(data) // 2] ^= 1
    ck.write_bytes(bytes(data))
    (d / "damaged" / "checkpoint.prev.pt").unlink(missing_ok=True)
    # -- special and hostile files (issue 18 item 9 and the audit after it)
    import os
    import shutil

    def special(name: str, make) -> str:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        make(p)
        f[name.replace("/", "_").replace(".", "_")] = str(p)
        return str(p)

    special("fifo.toml", os.mkfifo)
    special("zero.json", lambda p: p.symlink_to("/dev/zero"))
    special("init_fifo.pt", os.mkfifo)
    special("q_fifo.py", os.mkfifo)
    put("deep.toml", "a = " + "[" * 5000 + "]" * 5000 + "\n")
    put("deep.json", "[" * 100000 + "]" * 100000)
    put("garbage.toml", bytes(range(256)) * 8)
    put("utf16.toml", "epochs = 1\n".encode("utf-16"))
    put("null.json", "null")
    put("study_deep.toml", "[study]\nname='x'\n[grid]\nseed = " + "[" * 5000 + "]" * 5000 + "\n")
    put("study_workers.toml", "[study]\nname='x'\nworkers = 100000\n[grid]\nseed=[0]\n")
    with open(d / "huge.toml", "wb") as fh:  # sparse: no disk used
        fh.truncate((64 << 20) + 1)
    f["huge_toml"] = str(d / "huge.toml")
    fin = d / "fin"
    train(cfg.replace(epochs=1), fin, resume=False)

    def clone(name: str) -> Path:
        shutil.copytree(fin, d / name, symlinks=True)
        f[name] = str(d / name)
        return d / name

    for name, text in [("fin_empty", "{}"), ("fin_array", "[1]"), ("fin_trunc", '{"final": {"t'),
                       ("fin_types", json.dumps({"final": {"test_acc": "x", "test_loss": 1.0,
                                                           "train_loss": 1.0}, "epochs": 1,
                                                 "steps": 3, "wall_s": 1.0, "history": []}))]:
        (clone(name) / "result.json").write_text(text)
    r = clone("fin_fifo")
    (r / "result.json").unlink()
    os.mkfifo(r / "result.json")
    for name in ("ck_fifo", "ck_zero", "ck_dir", "cfg_fifo"):
        r = clone(name)
        for n in ("result.json", "checkpoint.pt", "checkpoint.prev.pt"):
            (r / n).unlink(missing_ok=True)
    os.mkfifo(d / "ck_fifo" / "checkpoint.pt")
    (d / "ck_zero" / "checkpoint.pt").symlink_to("/dev/zero")
    (d / "ck_dir" / "checkpoint.pt").mkdir()
    (d / "cfg_fifo" / "config.json").unlink()
    os.mkfifo(d / "cfg_fifo" / "config.json")
    r = clone("model_fifo")
    (r / "model.pt").unlink()
    os.mkfifo(r / "model.pt")
    r = clone("vr_metrics_fifo")
    (r / "metrics.jsonl").unlink()
    os.mkfifo(r / "metrics.jsonl")
    r = clone("vr_config_zero")
    (r / "config.json").unlink()
    (r / "config.json").symlink_to("/dev/zero")
    # a run directory held by a live writer (this process)
    lock = RunLock(d / "locked").acquire()
    f["locked"] = str(d / "locked")
    yield f
    lock.release()


T = ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--batch-size", "512",
     "--log-every", "0", "--diag-every", "0", "--num-threads", "1", "--out", "{fresh}"]
TQ = [*T, "--method", "bcgd", "--weights", "binary"]
VQ = ["verify", "quantizer", "{q_py}:f", "--set", "binary", "--examples", "5"]

CLI = [
    # -- train: configuration (before anything runs)
    row("train/method", [*T, "--method", "adamw"], 2, "method must be one of"),
    row("train/model", [*T, "--model", "resnet7"], 2, "model must be one of"),
    row("train/dataset", [*T, "--dataset", "svhn"], 2, "dataset must be one of"),
    row("train/weights-bits", [*T, "--method", "bcgd", "--weights", "uniform:99"], 2, "bits"),
    row("train/weights-unknown", [*T, "--method", "bcgd", "--weights", "quaternary"], 2,
        "weights"),
    row("train/no-weights", [*T, "--method", "bcgd"], 2, "needs a weights set"),
    row("train/float-weights", [*T, "--weights", "binary"], 2, "takes no weights"),
    row("train/lr-negative", [*T, "--lr", "-1"], 2, "lr must be"),
    row("train/lr-inf", [*T, "--lr", "inf"], 2, "lr must be"),
    row("train/lr-nan", [*T, "--lr", "nan"], 2, "lr must be"),
    row("train/lr-word", [*T, "--lr", "fast"], 2, "lr must be"),
    row("train/epochs-zero", [*T, "--epochs", "0"], 2, "epochs"),
    row("train/epochs-float", [*T, "--epochs", "2.5"], 2, "epochs must be an int"),
    row("train/epochs-bool", [*T, "--epochs", "true"], 2, "epochs must be an int"),
    row("train/batch-zero", [*T, "--batch-size", "0"], 2, "batch_size"),
    row("train/batch-negative", [*T, "--batch-size", "-3"], 2, "batch_size"),
    row("train/seed-negative", [*T, "--seed", "-1"], 2, "seed"),
    row("train/momentum", [*T, "--momentum", "-0.1"], 2, "momentum"),
    row("train/weight-decay", [*T, "--weight-decay", "-1"], 2, "weight_decay"),
    row("train/optimizer", [*T, "--optimizer", "lbfgs"], 2, "optimizer must be"),
    row("train/schedule", [*T, "--schedule", "linear"], 2, "schedule must be"),
    row("train/milestones", [*T, "--schedule", "multistep", "--milestones", "[5, 2]"], 2,
        "milestones"),
    row("train/gamma", [*T, "--schedule", "multistep", "--milestones", "[1]", "--gamma", "0"],
        2, "gamma"),
    row("train/warmup", [*T, "--schedule", "warmup_cosine", "--warmup-epochs", "-1"], 2,
        "warmup_epochs"),
    row("train/warmup-lr", [*T, "--schedule", "warmup_cosine", "--warmup-lr", "-1"], 2,
        "warmup_lr"),
    row("train/device-unknown", [*T, "--device", "tpu"], 2, "device must be"),
    row("train/amp", [*T, "--amp", "fp8"], 2, "amp must be"),
    row("train/threads-zero", [*T, "--num-threads", "0"], 2, "num_threads"),
    row("train/threads-huge", [*T, "--num-threads", "5000"], 2, "num_threads"),
    row("train/act-bits-zero", [*TQ, "--act-bits", "0"], 2, "act_bits"),
    row("train/act-bits-huge", [*TQ, "--act-bits", "99"], 2, "act_bits"),
    row("train/ste", [*TQ, "--act-bits", "2", "--ste", "sigmoid"], 2, "ste must be"),
    row("train/act-forward", [*TQ, "--act-bits", "2", "--act-forward", "banana"], 2,
        "forward must be one of"),
    row("train/alpha-grad", [*TQ, "--act-bits", "2", "--alpha-grad", "banana"], 2,
        "alpha_grad"),
    row("train/method-args-key", [*T, "--method", "binaryrelax", "--weights", "binary",
                                  "--method-args", "{rho=1}"], 2, "method_args"),
    row("train/method-args-rho", [*TQ, "--method-args", "{rho=-1}"], 2, "rho"),
    row("train/method-args-lam0", [*T, "--method", "binaryrelax", "--weights", "binary",
                                   "--method-args", "{lam0=-1}"], 2, "lam0"),
    row("train/method-args-type", [*TQ, "--method-args", "3"], 2, "method_args"),
    row("train/br-lam0-overflows", [*T, "--method", "binaryrelax", "--weights", "ternary",
                                    "--method-args", "{lam0=1e300,growth=1e10}"], 2,
        "BinaryRelax: schedule value lam = 1e+300 at optimizer step 0"),
    row("train/br-lam-overflows-in-run", [*T, "--method", "binaryrelax", "--weights",
                                          "ternary", "--epochs", "2", "--method-args",
                                          "{lam0=1e30,growth=1e10}"], 2,
        "BinaryRelax: schedule value lam = 1e+40 at optimizer step"),
    row("train/uniq-weights", [*T, "--method", "uniq", "--weights", "binary"], 2,
        "uniq"),
    row("train/uniq-bits", [*T, "--method", "uniq", "--weights", "uniq:0"], 2, "bits"),
    row("train/axis-type", [*TQ, "--axis", "'x'"], 2, "axis must be"),
    row("train/log-every", [*T, "--log-every", "-1"], 2, "log_every"),
    row("train/diag-every", [*T, "--diag-every", "-5"], 2, "diag_every"),
    row("train/keep-float-type", [*TQ, "--keep-float", "3"], 2, "keep_float"),
    row("train/dataset-args-key", [*T, "--dataset-args", "{bogus=1}"], 2, "dataset_args"),
    row("train/cifar-no-dir", [*T, "--dataset", "cifar10"], 2, "needs data_dir"),
    row("train/cifar-missing-dir", [*T, "--dataset", "cifar10", "--data-dir", "/nonexistent/x"],
        2, "/nonexistent/x"),
    row("train/config-missing", ["train", "/nonexistent.toml"], 2, "does not exist"),
    row("train/config-bad-toml", ["train", "{bad_toml}", "--out", "{fresh}"], 2, "bad.toml"),
    row("train/config-unknown-key", ["train", "{unknown_key_toml}", "--out", "{fresh}"], 2,
        "unknown config keys"),
    row("train/config-wrong-type", ["train", "{wrong_type_toml}", "--out", "{fresh}"], 2,
        "epochs must be an int"),
    row("train/set-unknown", [*T, "--set", "lrate=0.1"], 2, "unknown config keys"),
    row("train/set-no-equals", [*T, "--set", "lr"], 2, "KEY=VALUE"),
    row("train/argparse-missing-value", ["train", "--epochs"], 2, "expected one argument"),
    row("train/argparse-unknown-flag", [*T, "--epochz", "3"], 2, "unrecognized arguments"),
    # -- train: errors found once running (model, data, files, device, resume)
    row("train/model-args-key", [*T, "--model-args", "{bogus=3}"], 2, "model_args"),
    row("train/model-args-value", [*T, "--model-args", "{hidden=[-4]}"], 2, "hidden"),
    row("train/model-args-not-table", [*T, "--model-args", "not-a-table"], 2, "model_args"),
    row("train/dataset-args-value", [*T, "--dataset", "teacher", "--model", "twolayer",
                                     "--dataset-args", "{m=-1}"], 2, "m"),
    row("train/axis-range", [*TQ, "--axis", "5"], 2, "axis"),
    row("train/keep-float-unknown", [*TQ, "--keep-float", "['nope']"], 2, "nope"),
    row("train/device-cuda", [*T, "--device", "cuda"], 2, "CUDA is not available"),
    row("train/device-cuda-index", [*T, "--device", "cuda:7"], 2, "CUDA is not available"),
    row("train/device-mps", [*T, "--device", "mps"], 2, "MPS is not available"),
    row("train/cifar-corrupt", [*T, "--dataset", "cifar10", "--data-dir", "{cifar_corrupt}"], 2,
        "not a valid CIFAR batch"),
    row("train/init-missing", [*T, "--init-from", "/nonexistent.pt"], 2, "no such file"),
    row("train/init-random-bytes", [*T, "--init-from", "{init_random_pt}"], 2,
        "not a readable torch file"),
    row("train/init-text", [*T, "--init-from", "{init_text_pt}"], 2, "not a readable torch"),
    row("train/init-mismatch", [*T, "--init-from", "{init_mismatch_pt}"], 2,
        "does not match model"),
    row("train/init-not-a-dict", [*T, "--init-from", "{init_list_pt}"], 2,
        "does not hold a state dict"),
    row("train/init-empty-dir", [*T, "--init-from", "{emptydir}"], 2, "no such file"),
    row("train/resume-changed-config", [*T[:-1], "{cut}", "--epochs", "2", "--lr", "0.5"], 2,
        "cannot resume"),
    row("train/damaged-checkpoint", [*T[:-1], "{damaged}", "--epochs", "2"], 2,
        "damaged: checksum mismatch"),
    row("train/locked-run-dir", [*T[:-1], "{locked}"], 2, "is in use by pid"),
    row("train/out-is-a-file", [*T[:-1], "{plainfile}"], 2, "plainfile"),
    # -- study
    row("study/unknown", ["study", "/nonexistent.toml"], 2, "neither a study file nor a preset"),
    row("study/empty-file", ["study", "{empty_study_toml}", "--out", "{fresh}"], 2, "empty"),
    row("study/grid-duplicate", ["study", "{study_grid_dup_toml}", "--out", "{fresh}"], 2,
        "seed lists 0 twice"),
    row("study/bad-toml", ["study", "{study_bad_toml}", "--out", "{fresh}"], 2, "study_bad"),
    row("study/unknown-key", ["study", "{study_unknown_toml}", "--out", "{fresh}"], 2, "bogus"),
    row("study/grid-bad-value", ["study", "{study_grid_bad_toml}", "--out", "{fresh}"], 2,
        "lr must be"),
    row("study/workers-zero", ["study", "quick", "--workers", "0", "--out", "{fresh}"], 2,
        "--workers"),
    row("study/threads-zero", ["study", "quick", "--threads", "0", "--out", "{fresh}"], 2,
        "--threads"),
    row("study/set-unknown", ["study", "quick", "--set", "bogus=1", "--out", "{fresh}"], 2,
        "bogus"),
    row("study/set-bad-value", ["study", "quick", "--set", "lr=-1", "--out", "{fresh}"], 2,
        "lr must be"),
    row("study/set-twice", ["study", "quick", "--set", "method_args={lam_max=50}", "--set",
                            "method_args={rho=0.01}", "--show"], 2, "method_args given twice"),
    row("train/set-twice", [*T, "--set", "lr=0.1", "--set", "lr=0.2"], 2, "lr given twice"),
    row("study/set-no-equals", ["study", "quick", "--set", "lr", "--out", "{fresh}"], 2,
        "KEY=VALUE"),
    row("study/max-runs-negative", ["study", "quick", "--max-runs", "-1", "--out", "{fresh}"],
        2, "max-runs"),
    row("study/workers-word", ["study", "quick", "--workers", "many"], 2, "invalid int"),
    row("study/out-is-a-file", ["study", "quick", "--max-runs", "0", "--out", "{plainfile}"], 2,
        "plainfile"),
    # -- verify quantizer
    row("verify/no-what", ["verify"], 2, "quantizer, theory, run or certificate"),
    row("vq/missing-file", ["verify", "quantizer", "/nonexistent.py:f", "--set", "binary"], 2,
        "does not exist"),
    row("vq/no-colon", ["verify", "quantizer", "{q_py}", "--set", "binary"], 2, "PATH.py:FUNC"),
    row("vq/missing-function", ["verify", "quantizer", "{q_py}:g", "--set", "binary"], 2,
        "has no attribute 'g'"),
    row("vq/not-callable", ["verify", "quantizer", "{q_py}:X", "--set", "binary"], 2,
        "not callable"),
    row("vq/exit-at-import", ["verify", "quantizer", "{q_exit_py}:f", "--set", "binary"], 2,
        "sys.exit(0)"),
    row("vq/syntax-error", ["verify", "quantizer", "{q_syntax_py}:f", "--set", "binary"], 2,
        "SyntaxError"),
    row("vq/unknown-set", [*VQ[:4], "quaternary"], 2, "unknown quantization set"),
    row("vq/set-bits", [*VQ[:4], "uniform:99"], 2, "bits"),
    row("vq/set-missing", ["verify", "quantizer", "{q_py}:f"], 2, "--set"),
    row("vq/axis", [*VQ, "--axis", "3"], 2, "axis must be"),
    row("vq/axis-word", [*VQ, "--axis", "rows"], 2, "invalid int"),
    row("vq/dtype-int", [*VQ, "--dtype", "int32"], 2, "dtype"),
    row("vq/dtype-torch", [*VQ, "--backend", "torch", "--dtype", "banana"], 2, "dtype"),
    row("vq/backend", [*VQ, "--backend", "jax"], 2, "invalid choice"),
    row("vq/examples-zero", [*VQ, "--examples", "0"], 2, "max_examples"),
    row("vq/timeout-zero", [*VQ, "--timeout", "0"], 2, "timeout must be"),
    row("vq/timeout-negative", [*VQ, "--timeout", "-1"], 2, "timeout must be"),
    row("vq/timeout-nan", [*VQ, "--timeout", "nan"], 2, "timeout must be"),
    row("vq/json-unwritable", [*VQ, "--json", "{plainfile}/x.json"], 2, "plainfile"),
    # -- verify theory / run
    row("vt/unknown-claim", ["verify", "theory", "--only", "fermat"], 2, "unknown claim"),
    row("vr/missing", ["verify", "run", "/nonexistent/run"], 2, "does not exist"),
    row("vr/no-config", ["verify", "run", "{emptydir}"], 2, "no config.json"),
    row("vr/method-5", ["verify", "run", "{dir}/run5"], 2, "'method' must be"),
    row("vr/bad-json", ["verify", "run", "{dir}/runbadjson"], 2, "not valid JSON"),
    row("vr/config-list", ["verify", "run", "{dir}/runlist"], 2, "JSON object"),
    row("vr/no-metrics", ["verify", "run", "{dir}/runnometrics"], 2, "no metrics.jsonl"),
    row("vr/no-diag", ["verify", "run", "{dir}/runnodiag"], 2, "no 'diag' records"),
    row("vr/bad-weights", ["verify", "run", "{dir}/runbadweights"], 2, "unknown quantization"),
    # vr/string-metric: a damaged record, not bad input (test_damaged_diag_line_is_exit_1)
    row("vr/orth-tol-negative", ["verify", "run", "{dir}/run5", "--orth-tol", "-1"], 2,
        "orth_tol"),
    row("vr/orth-tol-nan", ["verify", "run", "{cut}", "--orth-tol", "nan"], 2, "orth_tol"),
    # -- issue 18 items 4, 9, 10 and the hostile-input audit after them: special files (FIFOs,
    #    /dev/zero), nesting, sizes, damaged records, shapes, flags given twice, huge values
    row("train/config-fifo", ["train", "{fifo_toml}"], 2, "is a FIFO (named pipe)"),
    row("train/config-dev-zero", ["train", "/dev/zero"], 2, "is a device"),
    row("train/config-link-dev-zero", ["train", "--config", "{zero_json}"], 2, "is a device"),
    row("train/config-deep-toml", ["train", "{deep_toml}"], 2, "nested too deeply"),
    row("train/config-deep-json", ["train", "{deep_json}"], 2, "nested too deeply"),
    row("train/config-dir-without-config", ["train", "{emptydir}"], 2, "does not exist"),
    row("train/config-binary-garbage", ["train", "{garbage_toml}"], 2, "not UTF-8"),
    row("train/config-utf16", ["train", "{utf16_toml}"], 2, "not UTF-8"),
    row("train/config-huge", ["train", "{huge_toml}"], 2, "bytes, more than"),
    row("train/config-json-null", ["train", "{null_json}"], 2, "JSON object"),
    row("train/set-and-flag", [*T, "--set", "epochs=3", "--epochs", "1"], 2,
        "epochs given twice, as --set epochs=3 and as --epochs"),
    row("train/set-invalid-and-flag", [*T, "--set", "epochs=x", "--epochs", "1"], 2,
        "given twice"),
    row("train/cnn1d-on-digits", [*T, "--model", "cnn1d"], 2,
        "model 'cnn1d' does not fit dataset 'digits' (samples of shape (1, 8, 8)"),
    row("train/vgg11-on-digits", [*T, "--model", "vgg11"], 2, "does not fit dataset 'digits'"),
    row("train/twolayer-on-digits", [*T, "--model", "twolayer"], 2,
        "needs samples of shape (m, n)"),
    row("train/model-args-deep", [*T, "--model-args", "{a=" * 3000 + "1" + "}" * 3000], 2,
        "nested too deeply"),
    row("train/method-args-deep", [*TQ, "--method-args", "{a=" * 3000 + "1" + "}" * 3000], 2,
        "nested too deeply"),
    row("train/lr-1e400", [*T, "--lr", "1e400"], 2, "lr must be"),
    row("train/epochs-huge", [*T, "--epochs", "99999999999"], 2, "epochs must be in"),
    row("train/batch-huge", [*T, "--batch-size", "1000000000"], 2, "batch_size must be in"),
    row("train/seed-2^64", [*T, "--seed", str(2**64)], 2, "seed must be in"),
    row("train/hidden-huge", [*T, "--model-args", "hidden=[1000000000]"], 2,
        "does not fit in memory"),
    row("train/mnist1d-samples-huge", [*T, "--dataset", "mnist1d", "--dataset-args",
                                       "num_samples=1000000000000"], 2, "num_samples must be"),
    row("train/teacher-huge", [*T, "--dataset", "teacher", "--model", "twolayer",
                               "--dataset-args", "n_train=1000000000"], 2, "entries is more"),
    row("train/uniform-bits-huge", [*T, "--method", "bcgd", "--weights", "uniform:100000"], 2,
        "bits"),
    row("train/max-skip-frac-2", [*TQ, "--nonfinite", "skip", "--max-skip-frac", "2"], 2,
        "max_skip_frac must be a share in [0, 1]"),
    row("train/out-dev-null", [*T[:-1], "/dev/null"], 2, "/dev/null"),
    row("train/out-under-file", [*T[:-1], "{plainfile}/sub"], 2, "plainfile"),
    row("train/result-empty-object", [*T[:-1], "{fin_empty}"], 2,
        "result.json' was changed or truncated after the run finished"),
    row("train/result-array", [*T[:-1], "{fin_array}"], 2,
        "result.json' was changed or truncated after the run finished"),
    row("train/result-truncated", [*T[:-1], "{fin_trunc}"], 2,
        "result.json' was changed or truncated after the run finished"),
    row("train/result-wrong-types", [*T[:-1], "{fin_types}"], 2,
        "result.json' was changed or truncated after the run finished"),
    row("train/result-fifo", [*T[:-1], "{fin_fifo}"], 2, "is not a regular file"),
    row("train/checkpoint-fifo", [*T[:-1], "{ck_fifo}"], 2, "checkpoint.pt' is a FIFO"),
    row("train/checkpoint-dev-zero", [*T[:-1], "{ck_zero}"], 2, "checkpoint.pt' is a device"),
    row("train/checkpoint-dir", [*T[:-1], "{ck_dir}"], 2, "checkpoint.pt' is a directory"),
    row("train/run-config-fifo", [*T[:-1], "{cfg_fifo}"], 2, "config.json' is a FIFO"),
    row("train/init-from-fifo", [*T, "--init-from", "{init_fifo_pt}"], 2, "is a FIFO"),
    row("train/init-from-dev-zero", [*T, "--init-from", "/dev/zero"], 2, "is a device"),
    row("train/init-from-run-model-fifo", [*T, "--init-from", "{model_fifo}"], 2,
        "is not a regular file"),
    row("train/nonfinite-skip-diverges", [*TQ, "--nonfinite", "skip", "--lr", "1e30",
                                          "--epochs", "2"], 1, "steps skipped (nonfinite=skip)"),
    row("study/fifo", ["study", "{fifo_toml}", "--out", "{fresh}"], 2, "is a FIFO"),
    row("study/dev-zero", ["study", "/dev/zero", "--out", "{fresh}"], 2, "is a device"),
    row("study/deep-toml", ["study", "{study_deep_toml}", "--out", "{fresh}"], 2,
        "nested too deeply"),
    row("study/directory", ["study", "{emptydir}", "--out", "{fresh}"], 2, "is a directory"),
    row("study/binary-garbage", ["study", "{garbage_toml}", "--out", "{fresh}"], 2,
        "not UTF-8"),
    row("study/data-dir-twice", ["study", "quick", "--set", "data_dir=x", "--data-dir", "y",
                                 "--max-runs", "0", "--out", "{fresh}"], 2, "given twice"),
    row("study/workers-huge-flag", ["study", "quick", "--workers", "100000", "--max-runs", "0",
                                    "--out", "{fresh}"], 2, "--workers must be in [1, 1024]"),
    row("study/workers-huge-file", ["study", "{study_workers_toml}", "--max-runs", "0", "--out",
                                    "{fresh}"], 2, "workers must be at most 1024"),
    row("study/threads-huge", ["study", "quick", "--threads", "100000", "--max-runs", "0",
                               "--out", "{fresh}"], 2, "--threads must be in"),
    row("study/set-deep", ["study", "quick", "--set", "model_args=" + "{a=" * 3000 + "1"
                           + "}" * 3000, "--max-runs", "0", "--out", "{fresh}"], 2,
        "nested too deeply"),
    row("vr/metrics-fifo", ["verify", "run", "{vr_metrics_fifo}"], 2, "not a regular file"),
    row("vr/config-dev-zero", ["verify", "run", "{vr_config_zero}"], 2, "not a regular file"),
    row("vc/fifo", ["verify", "certificate", "{fifo_toml}"], 2, "not a regular file"),
    row("vq/file-fifo", ["verify", "quantizer", "{q_fifo_py}:f", "--set", "binary"], 2,
        "q_fifo.py"),
    row("reproduce/seeds-zero", ["reproduce", "--seeds", "0", "--out", "{fresh}"], 2, "seeds"),
    row("reproduce/workers-huge", ["reproduce", "--workers", "100000", "--out", "{fresh}"], 2,
        "workers must be an int in [1, 1024]"),
    row("reproduce/data-dir-file", ["reproduce", "--data-dir", "{plainfile}", "--out",
                                    "{fresh}"], 2, "not a directory"),
    # -- figures / bench / top level
    row("figures/unknown", ["figures", "--only", "nope", "--out", "{fresh}"], 2,
        "unknown figure"),
    row("figures/out-is-a-file", ["figures", "--only", "projection_1d", "--out",
                                  "{plainfile}"], 2, "plainfile"),
    row("bench/unknown", ["bench", "--only", "nope", "--out", "{fresh}/B.md"], 2,
        "unknown section"),
    row("top/unknown-command", ["trian"], 2, "invalid choice"),
    # -- acceptance (issue 18 audit): --out naming a regular file or a device
    row("train/out-is-a-file", [*T, "--out", "{plainfile}"], 2, "is not a directory"),
    row("train/out-is-dev-null", [*T, "--out", "/dev/null"], 2, "is not a directory"),
    row("vr/device", ["verify", "run", "/dev/zero"], 2, "'/dev/zero' is not a directory"),
    row("vr/file", ["verify", "run", "{plainfile}"], 2, "is not a directory"),
    row("plot/file", ["plot", "{plainfile}", "--out", "{fresh}"], 2, "is not a directory"),
    row("vc/not-npz", ["verify", "certificate", "{plainfile}"], 2,
        "pickled objects, which are never loaded"),
]


@pytest.mark.parametrize("argv,code,fragment", CLI)
def test_cli_bad_input(files, tmp_path, capsys, argv, code, fragment):
    names = {**files, "fresh": str(tmp_path / "fresh")}
    args = [re.sub(r"\{(\w+)\}", lambda m: names.get(m.group(1), m.group(0)), a) for a in argv]
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse
        rc = exc.code
    cap = capsys.readouterr()
    err = cap.err
    assert "Traceback" not in err, err
    assert rc == code, f"exit {rc}: {err}"
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("qopt: warning")]
    assert len(lines) == 1, err
    assert fragment in lines[0], lines[0]


def test_damaged_diag_line_is_exit_1(files, capsys):
    """A diag line with a string metric is a damaged record: the ``log`` invariant fails naming
    the line (exit 1), no traceback."""
    assert main(["verify", "run", f"{files['dir']}/runstr"]) == 1
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    assert "metrics.jsonl line 1: diag fc.weight/orth_rel" in cap.out


# --------------------------------------------------------------------------- API rows
def _model():
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def _qopt_for(model, method):
    import qopt

    qopt.quantize_model(model, weights="binary", keep_float=[])
    base = torch.optim.SGD(qopt.param_groups(model), lr=0.1)
    return qopt.QuantOptimizer(base, method)


def _load_mismatched_state():
    import qopt

    a = _qopt_for(torch.nn.Sequential(torch.nn.Linear(6, 1)), qopt.BinaryConnect())
    b = _qopt_for(torch.nn.Sequential(torch.nn.Linear(6, 4)), qopt.BinaryConnect())
    b.load_state_dict(a.state_dict())


def _load_other_rho():
    import qopt

    a = _qopt_for(_model(), qopt.BCGD(rho=1e-5))
    b = _qopt_for(_model(), qopt.BCGD(rho=1e-3))
    b.load_state_dict(a.state_dict())


def _br_state(edit):
    """A BinaryRelax optimizer's state after one step, edited by ``edit``, loaded into a fresh
    optimizer of the same configuration."""
    import copy

    import qopt

    method = qopt.BinaryRelax(lam0=1.0, growth=1.1, phase2_frac=None)
    m = _model()
    opt = _qopt_for(m, method)
    opt.base.param_groups[0]["momentum"] = 0.9
    m(torch.ones(2, 4)).sum().backward()
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    edit(sd)
    _qopt_for(_model(), method).load_state_dict(sd)


def _set_first(t, v):
    t.view(-1)[0] = v


def _two_optimizers():
    import qopt

    m = _model()
    first = _qopt_for(m, qopt.BinaryConnect())
    base = torch.optim.SGD(qopt.param_groups(m), lr=0.1)
    return first, qopt.QuantOptimizer(base, qopt.BinaryConnect())


def _listed_twice():
    import qopt
    from theory import Binary

    lin = torch.nn.Linear(4, 3)
    return qopt.QuantOptimizer(torch.optim.SGD(
        [{"params": [lin.weight, lin.weight], "qset": Binary()}], lr=0.1),
        qopt.BinaryConnect())


def _nan_weights():
    import qopt

    m = _model()
    with torch.no_grad():
        m[0].weight[1, 2] = float("nan")
    return _qopt_for(m, qopt.BinaryConnect())


def _br_overflow_in_step():
    import qopt

    m = _model().double()
    opt = _qopt_for(m, qopt.BinaryRelax(lam0=1e300, growth=1e10, per="step",
                                         phase2_frac=None))
    for _ in range(3):
        opt.zero_grad()
        m(torch.ones(2, 4, dtype=torch.float64)).sum().backward()
        opt.step()


def _exported(**change):
    import qopt

    m = _model()
    qopt.quantize_model(m, weights="binary", keep_float=[])
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.copy_(torch.where(p >= 0, 0.5, -0.5))
    e = qopt.export_quantized(m)
    name = next(iter(e))
    e[name] = {**e[name], **change}
    for k, v in change.items():
        if v is None:
            del e[name][k]
    return m, e


def _teacher():
    from theory.twolayer import TwoLayerTeacher

    return TwoLayerTeacher(np.array([1.0, -0.5]), np.array([0.3, 0.4, 1.0]))


W = torch.randn(8)
V2, W3 = np.array([0.5, 0.5]), np.array([1.0, 0.0, 0.5])


def _api():  # built lazily so that importing this module stays cheap
    import qopt
    from proofs_check import verify_quantizer, verify_run, verify_theory
    from qopt.data import TensorLoader, load_cifar, load_data
    from qopt.export import dequantize
    from qopt.io import atomic_write_json, load_state_file, open_regular, parse_json, read_text
    from qopt.models import build_model
    from qopt.nn import QuantReLU
    from qopt.study.config import parse_toml
    from qopt.train import TrainConfig
    from qopt.train.checkpoint import CheckpointError, read_checkpoint
    from qopt.train.lock import RunLock, RunLockedError
    from qopt.train.record import read_result
    from qopt.train.seeding import seed_everything
    from theory import Binary, Grid, Symmetric, Ternary, Uniform, parse_qset, project

    ok_fn = lambda w: project(w, Binary()).q  # noqa: E731
    return [
        # -- qopt.project
        row("project/list", lambda f: qopt.project([1.0, 2.0], Binary()), TypeError, "w"),
        row("project/int-tensor", lambda f: qopt.project(torch.arange(4), Binary()), TypeError,
            "float"),
        row("project/set-str", lambda f: qopt.project(W, "ternary"), TypeError,
            "qset must be"),
        row("project/set-none", lambda f: qopt.project(W, None), TypeError, "qset"),
        row("project/set-int", lambda f: qopt.project(W, 3), TypeError, "qset"),
        row("project/axis-range", lambda f: qopt.project(W, Binary(), axis=5), ValueError,
            "axis"),
        row("project/axis-float", lambda f: qopt.project(W, Binary(), axis=0.5), TypeError,
            "axis"),
        row("project/axis-2d-range", lambda f: qopt.project(W.view(2, 4), Binary(), axis=-3),
            ValueError, "axis"),
        row("project/nan", lambda f: qopt.project(torch.tensor([1.0, float("nan")]), Binary()),
            ValueError, "finite"),
        row("project/inf", lambda f: qopt.project(torch.tensor([1.0, float("inf")]), Ternary()),
            ValueError, "finite"),
        row("project/empty", lambda f: qopt.project(torch.empty(0), Binary()), ValueError,
            "empty"),
        row("project/set-class", lambda f: qopt.project(W, Binary), TypeError, "qset"),
        row("project/meta", lambda f: qopt.project(torch.empty(4, device="meta"), Binary()),
            ValueError, "meta tensor"),
        row("project/sparse-coo", lambda f: qopt.project(torch.eye(3).to_sparse(), Binary()),
            TypeError, "dense (strided)"),
        row("project/sparse-csr", lambda f: qopt.project(torch.eye(3).to_sparse_csr(),
                                                         Binary()), TypeError, "dense"),
        row("project/complex", lambda f: qopt.project(torch.ones(3, dtype=torch.complex64),
                                                      Binary()), TypeError, "floating"),
        # -- special files and nesting (qopt.io readers)
        row("io/open-fifo", lambda f: open_regular(f["fifo_toml"]), ValueError, "FIFO"),
        row("io/open-dev-zero", lambda f: open_regular("/dev/zero"), ValueError, "device"),
        row("io/open-dir", lambda f: open_regular(f["emptydir"]), ValueError, "directory"),
        row("io/read-too-big", lambda f: read_text(f["huge_toml"]), ValueError,
            "more than the"),
        row("io/json-deep", lambda f: parse_json("[" * 100000 + "]" * 100000, "x.json"),
            ValueError, "nested too deeply"),
        row("io/state-file-dev-zero", lambda f: load_state_file("/dev/zero"), ValueError,
            "device"),
        row("ckpt/fifo", lambda f: read_checkpoint(f["ck_fifo"] + "/checkpoint.pt"),
            CheckpointError, "FIFO"),
        row("toml/deep", lambda f: parse_toml("a = " + "[" * 5000 + "]" * 5000), ValueError,
            "nested too deeply"),
        row("result/empty", lambda f: read_result(f["fin_empty"]), ValueError,
            "changed or truncated"),
        row("model/twolayer-shape", lambda f: build_model("twolayer", (1, 8, 8), 10),
            ValueError, "(m, n)"),
        row("cfg/max-skip-frac", lambda f: TrainConfig(max_skip_frac=2.0).validate(),
            ValueError, "max_skip_frac"),
        row("cfg/max-skip-frac-type", lambda f: TrainConfig(max_skip_frac="x").validate(),
            TypeError, "max_skip_frac"),
        row("data/teacher-huge", lambda f: load_data("teacher", n_train=10**9), ValueError,
            "entries"),
        # -- sets and specs (theory)
        row("set/uniform-0", lambda f: Uniform(0), ValueError, "bits"),
        row("set/uniform-99", lambda f: Uniform(99), ValueError, "bits"),
        row("set/uniform-float", lambda f: Uniform(2.5), TypeError, "bits"),
        row("set/uniform-bool", lambda f: Uniform(True), TypeError, "bits"),
        row("set/uniform-str", lambda f: Uniform("4"), TypeError, "bits"),
        row("set/symmetric-0", lambda f: Symmetric(0), ValueError, "bits"),
        row("set/grid-empty", lambda f: Grid([]), ValueError, "levels"),
        row("set/grid-nan", lambda f: Grid([0.0, float("nan")]), ValueError, "finite"),
        row("set/grid-scale-negative", lambda f: Grid([-1.0, 1.0], scale=-1.0), ValueError,
            "scale"),
        row("set/grid-scale-zero", lambda f: Grid([-1.0, 1.0], scale=0.0), ValueError, "scale"),
        row("set/grid-str", lambda f: Grid("abc"), TypeError, "levels"),
        row("set/ternary-scale-nan", lambda f: Ternary(scale=float("nan")), ValueError,
            "scale"),
        row("spec/empty", lambda f: parse_qset(""), ValueError, "quantization set"),
        row("spec/int", lambda f: parse_qset(3), TypeError, "spec"),
        row("spec/uniform-word", lambda f: parse_qset("uniform:x"), ValueError, "uniform"),
        row("spec/grid-empty", lambda f: parse_qset("grid:"), ValueError, "levels"),
        row("spec/grid-word", lambda f: parse_qset("grid:1,a"), ValueError, "grid"),
        row("spec/scale-negative", lambda f: parse_qset("binary@-1"), ValueError, "scale"),
        row("spec/unknown", lambda f: parse_qset("quaternary"), ValueError,
            "unknown quantization set"),
        row("theory-project/nan", lambda f: project(np.array([np.nan]), Binary()), ValueError,
            "finite"),
        row("theory-project/int", lambda f: project(np.arange(3), Binary()), TypeError,
            "floating"),
        row("theory-project/axis", lambda f: project(np.ones(3), Binary(), axis=2), ValueError,
            "axis"),
        # -- methods and QuantOptimizer
        row("method/bcgd-rho-negative", lambda f: qopt.BCGD(rho=-1.0), ValueError, "rho"),
        row("method/bcgd-rho-big", lambda f: qopt.BCGD(rho=2.0), ValueError, "rho"),
        row("method/bcgd-rho-str", lambda f: qopt.BCGD(rho="a"), TypeError, "rho"),
        row("method/br-lam0", lambda f: qopt.BinaryRelax(lam0=-1.0), ValueError, "lam0"),
        row("method/br-lam0-nan", lambda f: qopt.BinaryRelax(lam0=float("nan")), ValueError,
            "lam0"),
        row("method/br-growth", lambda f: qopt.BinaryRelax(growth=0.5), ValueError, "growth"),
        row("qo/base-none", lambda f: qopt.QuantOptimizer(None, qopt.BinaryConnect()),
            TypeError, "base"),
        row("qo/method-str", lambda f: qopt.QuantOptimizer(
            torch.optim.SGD(_model().parameters(), lr=0.1), "sgd"), ValueError, "method"),
        row("qo/method-int", lambda f: qopt.QuantOptimizer(
            torch.optim.SGD(_model().parameters(), lr=0.1), 5), TypeError, "method"),
        row("qo/no-quantized-groups", lambda f: qopt.QuantOptimizer(
            torch.optim.SGD(_model().parameters(), lr=0.1), qopt.BinaryConnect()), ValueError,
            "quantized"),
        row("qo/load-not-a-dict", lambda f: _qopt_for(_model(), qopt.BinaryConnect())
            .load_state_dict({}), ValueError, "state"),
        row("qo/load-mismatched-shapes", lambda f: _load_mismatched_state(), ValueError,
            "shape"),
        row("qo/load-other-method-args", lambda f: _load_other_rho(), ValueError, "rho"),
        row("qo/param-listed-twice", lambda f: _listed_twice(), ValueError, "listed twice"),
        row("qo/param-in-two-optimizers", lambda f: _two_optimizers(), ValueError,
            "already belongs to another live QuantOptimizer"),
        row("qo/nan-weights", lambda f: _nan_weights(), ValueError, "0.weight holds NaN/Inf"),
        row("qo/br-lam0-overflows-float32", lambda f: _qopt_for(_model(), qopt.BinaryRelax(
            lam0=1e300, growth=1e10, phase2_frac=None)), ValueError,
            "BinaryRelax: schedule value lam = 1e+300 at optimizer step 0"),
        row("qo/br-lam-reaches-inf", lambda f: _br_overflow_in_step(), OverflowError,
            "BinaryRelax: schedule value lam = inf at optimizer step 1"),
        row("qo/load-nan-latent", lambda f: _br_state(lambda sd: _set_first(
            sd["qopt"]["latent"][0], float("nan"))), ValueError, "NaN/Inf in latent weights"),
        row("qo/load-inf-latent", lambda f: _br_state(lambda sd: _set_first(
            sd["qopt"]["latent"][1], float("inf"))), ValueError, "NaN/Inf in latent weights"),
        row("qo/load-nan-momentum", lambda f: _br_state(lambda sd: _set_first(
            sd["state"][0]["momentum_buffer"], float("nan"))), ValueError,
            "NaN/Inf in base-optimizer state 'momentum_buffer'"),
        row("qo/load-nan-lam", lambda f: _br_state(lambda sd: sd["qopt"]["state"].update(
            lam=float("nan"))), ValueError, "qopt.state.lam"),
        row("qo/load-lam-str", lambda f: _br_state(lambda sd: sd["qopt"]["state"].update(
            lam="big")), TypeError, "qopt.state.lam"),
        row("qo/load-lam-overflows", lambda f: _br_state(lambda sd: sd["qopt"]["state"].update(
            lam=1e300)), ValueError, "schedule value lam = 1e+300"),
        row("qo/load-state-keys", lambda f: _br_state(lambda sd: sd["qopt"]["state"].pop(
            "growth")), ValueError, "qopt.state has keys"),
        row("qo/load-steps-negative", lambda f: _br_state(lambda sd: sd["qopt"][
            "counters"].update(steps=-5)), ValueError, "qopt.counters.steps must be >= 0"),
        row("qo/load-steps-str", lambda f: _br_state(lambda sd: sd["qopt"]["counters"].update(
            steps="x")), TypeError, "qopt.counters.steps must be an int"),
        row("qo/load-epochs-bool", lambda f: _br_state(lambda sd: sd["qopt"][
            "counters"].update(epochs=True)), TypeError, "qopt.counters.epochs"),
        row("qo/load-skipped-negative", lambda f: _br_state(lambda sd: sd["qopt"].update(
            nonfinite={"skipped": -1})), ValueError, "skipped"),
        row("qo/load-lr-nan", lambda f: _br_state(lambda sd: sd["param_groups"][0].update(
            lr=float("nan"))), ValueError, "param group 0: lr must be a finite number >= 0"),
        row("qo/load-momentum-negative", lambda f: _br_state(lambda sd: sd["param_groups"][
            0].update(momentum=-5.0)), ValueError, "param group 0: momentum must be"),
        row("qo/load-weight-decay-str", lambda f: _br_state(lambda sd: sd["param_groups"][
            0].update(weight_decay="x")), ValueError, "param group 0: weight_decay must be"),
        # -- quantize_model / param_groups
        row("qm/not-a-module", lambda f: qopt.quantize_model("model", weights="binary"),
            TypeError, "model"),
        row("qm/unknown-set", lambda f: qopt.quantize_model(_model(), weights="quaternary"),
            ValueError, "unknown quantization set"),
        row("qm/axis-range", lambda f: qopt.quantize_model(_model(), weights="binary", axis=5),
            ValueError, "axis"),
        row("qm/keep-float-unknown", lambda f: qopt.quantize_model(
            _model(), weights="binary", keep_float=["nope"]), ValueError, "nope"),
        row("qm/keep-float-int", lambda f: qopt.quantize_model(
            _model(), weights="binary", keep_float=3), TypeError, "keep_float"),
        row("qm/act-bits-zero", lambda f: qopt.quantize_model(
            _model(), activations={"bits": 0}), ValueError, "bits"),
        row("qm/act-unknown-key", lambda f: qopt.quantize_model(
            _model(), activations={"bogus": 1}), ValueError, "bogus"),
        row("qm/act-not-dict", lambda f: qopt.quantize_model(_model(), activations="x"),
            TypeError, "activations"),
        row("pg/not-a-module", lambda f: qopt.param_groups(3), TypeError, "model"),
        row("nn/quant-relu-bits", lambda f: QuantReLU(bits=0), ValueError, "bits"),
        row("nn/quant-relu-ste", lambda f: QuantReLU(bits=2, ste="bogus"), ValueError, "ste"),
        row("nn/quant-relu-bits-float", lambda f: QuantReLU(bits=2.5), TypeError, "bits"),
        # -- TwoLayerTeacher
        row("tl/v-empty", lambda f: __import__("theory.twolayer").twolayer.TwoLayerTeacher(
            np.array([]), W3), ValueError, "v_star"),
        row("tl/w-zero", lambda f: __import__("theory.twolayer").twolayer.TwoLayerTeacher(
            V2, np.zeros(3)), ValueError, "w_star must be non-zero"),
        row("tl/w-2d", lambda f: __import__("theory.twolayer").twolayer.TwoLayerTeacher(
            V2, np.ones((2, 2))), ValueError, "w_star"),
        row("tl/w-nan", lambda f: __import__("theory.twolayer").twolayer.TwoLayerTeacher(
            V2, np.array([1.0, np.nan])), ValueError, "w_star"),
        row("tl/w-int", lambda f: __import__("theory.twolayer").twolayer.TwoLayerTeacher(
            V2, np.array([1, 2])), TypeError, "w_star"),
        row("tl/w-str", lambda f: __import__("theory.twolayer").twolayer.TwoLayerTeacher(
            V2, "w"), TypeError, "w_star"),
        row("tl/loss-shape", lambda f: _teacher().loss(np.ones(3), W3), ValueError, "shape"),
        row("tl/grad-w-zero", lambda f: _teacher().grad(V2, np.zeros(3)), ValueError,
            "non-zero"),
        row("tl/grad-at-kink", lambda f: _teacher().grad(V2, W3, at_kink="bogus"), ValueError,
            "at_kink"),
        row("tl/proxy", lambda f: _teacher().expected_coarse_grad(V2, W3, "bogus"), ValueError,
            "proxy"),
        row("tl/samples-zero", lambda f: _teacher().sample(
            V2, W3, "relu", 0, np.random.default_rng(0)), ValueError, "n_samples"),
        row("tl/rng", lambda f: _teacher().sample(V2, W3, "relu", 10, 0), TypeError, "rng"),
        row("tl/gd-lr", lambda f: _teacher().coarse_gradient_descent(V2, W3, "relu", -1.0, 3),
            ValueError, "lr"),
        row("tl/gd-steps", lambda f: _teacher().coarse_gradient_descent(V2, W3, "relu", 0.1,
                                                                         -1), ValueError,
            "steps"),
        # -- export / load
        row("export/not-a-module", lambda f: qopt.export_quantized(3), TypeError, "model"),
        row("export/bad-optimizer", lambda f: qopt.export_quantized(_model(), object()),
            TypeError, "optimizer"),
        row("export/not-quantized", lambda f: qopt.export_quantized(
            qopt.quantize_model(_model(), weights="binary", keep_float=[])), ValueError,
            "not exactly quantized"),
        row("load/not-a-module", lambda f: qopt.load_quantized(3, {}), TypeError, "model"),
        row("load/int", lambda f: qopt.load_quantized(_model(), 3), TypeError, "exported"),
        row("load/unknown-name", lambda f: qopt.load_quantized(_model(), {"nope": {}}),
            ValueError, "nope"),
        row("load/missing-codes", lambda f: qopt.load_quantized(*_exported(codes=None)),
            ValueError, "codes"),
        row("load/float-codes", lambda f: qopt.load_quantized(*_exported(
            codes=torch.zeros(3, 4))), ValueError, "integers"),
        row("load/indices-range", lambda f: qopt.load_quantized(*_exported(
            kind="indices", codes=torch.full((3, 4), 9, dtype=torch.int8))), ValueError,
            "outside"),
        row("load/kind", lambda f: qopt.load_quantized(*_exported(kind="weird")), ValueError,
            "kind"),
        row("load/dtype", lambda f: qopt.load_quantized(*_exported(dtype="float99")),
            ValueError, "dtype"),
        row("load/shape", lambda f: qopt.load_quantized(*_exported(
            codes=torch.ones(2, 2, dtype=torch.int8))), ValueError, "shape"),
        row("load/scale-broadcast", lambda f: qopt.load_quantized(*_exported(
            scale=torch.ones(7))), ValueError, "broadcast"),
        row("load/values-code-outside-set", lambda f: qopt.load_quantized(*_exported(
            codes=torch.full((3, 4), 5, dtype=torch.int8))), ValueError, "code 5 is not a level"),
        row("load/axis-out-of-range", lambda f: qopt.load_quantized(*_exported(axis=7)),
            ValueError, "axis must be None or an int"),
        row("load/axis-str", lambda f: qopt.load_quantized(*_exported(axis="x")),
            ValueError, "axis must be None or an int"),
        row("load/scale-nan", lambda f: qopt.load_quantized(*_exported(
            scale=torch.tensor(float("nan")))), ValueError, "scale must be finite"),
        row("load/scale-inf", lambda f: qopt.load_quantized(*_exported(
            scale=torch.tensor(float("inf")))), ValueError, "scale must be finite"),
        row("load/scale-negative", lambda f: qopt.load_quantized(*_exported(
            scale=torch.tensor(-0.5))), ValueError, "scale must be finite and >= 0"),
        row("load/levels-nan", lambda f: qopt.load_quantized(*_exported(
            levels=torch.tensor([-1.0, float("nan")]))), ValueError, "levels must be finite"),
        row("load/levels-not-the-set", lambda f: qopt.load_quantized(*_exported(
            levels=torch.tensor([-2.0, 2.0]))), ValueError, "are not those of its set"),
        row("load/qset-garbage", lambda f: qopt.load_quantized(*_exported(qset="quaternary")),
            ValueError, "not a quantization set"),
        row("load/values-fractional-levels", lambda f: qopt.load_quantized(*_exported(
            qset=None, levels=torch.tensor([-0.5, 0.5]))), ValueError, "integer levels"),
        row("load/missing-file", lambda f: qopt.load_quantized(_model(), "/nonexistent.pt"),
            ValueError, "no such file"),
        row("load/corrupt-file", lambda f: qopt.load_quantized(_model(), f["init_random_pt"]),
            ValueError, "not a readable torch file"),
        row("dequantize/not-dict", lambda f: dequantize(3), (TypeError, ValueError), ""),
        # -- data
        row("data/unknown", lambda f: load_data("svhn"), ValueError, "dataset must be one of"),
        row("data/cifar-no-dir", lambda f: load_data("cifar10"), ValueError, "needs data_dir"),
        row("data/args", lambda f: load_data("digits", bogus=1), ValueError, "dataset_args"),
        row("data/teacher-m", lambda f: load_data("teacher", m=-1), ValueError, "m"),
        row("data/teacher-m-type", lambda f: load_data("teacher", m="two"), TypeError,
            "m must be"),
        row("data/teacher-m-bool", lambda f: load_data("teacher", m=True), TypeError, "m must be"),
        row("data/teacher-m-float", lambda f: load_data("teacher", n=2.5), TypeError, "n must be"),
        row("data/teacher-seed-type", lambda f: load_data("teacher", seed="x"), TypeError,
            "seed must be"),
        row("data/mnist1d-samples-type", lambda f: load_data("mnist1d", num_samples="5"),
            TypeError, "num_samples must be"),
        row("data/mnist1d-split-type", lambda f: load_data("mnist1d", train_split="x"),
            TypeError, "train_split must be"),
        row("data/cifar-name", lambda f: load_cifar("svhn", "/tmp"), ValueError, "cifar10"),
        row("data/cifar-corrupt", lambda f: load_cifar("cifar10", f["cifar_corrupt"]),
            ValueError, "not a valid CIFAR batch"),
        row("data/loader-batch", lambda f: TensorLoader(torch.zeros(4, 2), torch.zeros(4), 0,
                                                       shuffle=False),
            ValueError, "batch_size"),
        row("data/loader-lengths", lambda f: TensorLoader(torch.zeros(4, 2), torch.zeros(3), 2,
                                                          shuffle=False),
            ValueError, "length"),
        # -- models
        row("model/unknown", lambda f: build_model("resnet7", (1, 8, 8), 10), ValueError,
            "model must be one of"),
        row("model/bad-arg", lambda f: build_model("mlp", (1, 8, 8), 10, bogus=1), ValueError,
            "model_args"),
        row("model/hidden-negative", lambda f: build_model("mlp", (1, 8, 8), 10, hidden=[-1]),
            ValueError, "hidden"),
        # -- training API
        row("cfg/not-a-dict", lambda f: TrainConfig.from_dict(3), TypeError, "dict"),
        row("cfg/unknown-key", lambda f: TrainConfig.from_dict({"lrate": 1}), ValueError,
            "unknown config keys"),
        row("cfg/lr", lambda f: TrainConfig(lr=-1.0).validate(), ValueError, "lr must be"),
        row("cfg/epochs-type", lambda f: TrainConfig(epochs="3").validate(), TypeError,
            "epochs"),
        row("seed/negative", lambda f: seed_everything(-1), ValueError, "seed"),
        row("seed/float", lambda f: seed_everything(1.5), ValueError, "seed"),
        row("io/not-serialisable", lambda f: atomic_write_json(
            f["dir"] + "/x.json", {"a": object()}), TypeError, "not JSON serialisable"),
        row("ckpt/missing", lambda f: read_checkpoint(f["dir"] + "/none.pt"), CheckpointError,
            "cannot be read"),
        row("ckpt/foreign", lambda f: read_checkpoint(f["init_random_pt"]), CheckpointError,
            "not a qopt checkpoint"),
        row("lock/held", lambda f: RunLock(f["locked"]).acquire(), RunLockedError,
            "is in use by pid"),
        # -- proofs_check
        row("vq-api/axis", lambda f: verify_quantizer(ok_fn, Binary(), axis=2), ValueError,
            "axis"),
        row("vq-api/backend", lambda f: verify_quantizer(ok_fn, Binary(), backend="jax"),
            ValueError, "backend"),
        row("vq-api/check", lambda f: verify_quantizer(ok_fn, Binary(), checks=["nope"]),
            ValueError, "unknown check"),
        row("vq-api/examples", lambda f: verify_quantizer(ok_fn, Binary(), max_examples=0),
            ValueError, "max_examples"),
        row("vq-api/fn", lambda f: verify_quantizer(3, Binary()), TypeError, "callable"),
        row("vq-api/qset", lambda f: verify_quantizer(ok_fn, 3), TypeError, "qset"),
        row("vq-api/dtype", lambda f: verify_quantizer(ok_fn, Binary(), dtype="int32"),
            ValueError, "dtype"),
        row("vq-api/timeout-callable", lambda f: verify_quantizer(ok_fn, Binary(), timeout=1),
            ValueError, "timeout"),
        row("vq-api/timeout-negative", lambda f: verify_quantizer(
            f["q_py"] + ":f", Binary(), timeout=-1), ValueError, "timeout"),
        row("vq-api/target-missing", lambda f: verify_quantizer("/nonexistent.py:f", Binary()),
            ValueError, "does not exist"),
        row("vq-api/target-exit", lambda f: verify_quantizer(f["q_exit_py"] + ":f", Binary()),
            ValueError, "sys.exit(0)"),
        row("vr-api/missing", lambda f: verify_run("/nonexistent"), ValueError,
            "does not exist"),
        row("vr-api/method-5", lambda f: verify_run(f["dir"] + "/run5"), ValueError,
            "'method' must be"),
        row("vr-api/orth-tol", lambda f: verify_run(f["dir"] + "/run5", orth_tol=-1),
            ValueError, "orth_tol"),
        row("vt-api/unknown", lambda f: verify_theory(only=["fermat"]), ValueError,
            "unknown claim"),
    ]


def pytest_generate_tests(metafunc):
    if "api_call" in metafunc.fixturenames:
        metafunc.parametrize("api_call,exc,fragment", _api())


def test_api_bad_input(files, api_call, exc, fragment):
    with pytest.raises(exc) as info:
        api_call(files)
    assert fragment in str(info.value), str(info.value)
    assert not isinstance(info.value, (KeyError, IndexError, AttributeError, RuntimeError))


def test_the_table_is_big_and_covers_every_subcommand():
    rows = [p.values for p in CLI]
    assert len(CLI) + len(_api()) >= 150
    commands = {argv[0] if argv[0] != "verify" else " ".join(argv[:2]) for argv, _, _ in rows}
    assert {"train", "study", "verify quantizer", "verify theory", "verify run", "figures",
            "bench"} <= commands
