"""Trainer: bit-identical resume, evaluation on exactly quantized weights, run-directory format,
schedules, atomic I/O, seeding and config validation (all on tiny data, CPU)."""

import json
import math
import os

import pytest
import torch

from qopt.train import TrainConfig, atomic_write_json, read_jsonl, train
from qopt.train.checkpoint import load_checkpoint
from qopt.train.schedules import EpochFactor, build_scheduler
from qopt.train.seeding import rng_state, seed_everything, set_rng_state

TINY = dict(dataset="digits", model="cnn2d", model_args={"channels": [4, 8]}, epochs=3,
            batch_size=128, lr=0.05, log_every=4, diag_every=4, num_threads=1)

QUANT_CASES = [
    dict(method="binaryconnect", weights="binary"),
    dict(method="binaryrelax", weights="ternary", method_args={"lam0": 1.0, "growth": 2.0,
                                                               "phase2_at": 2}),
    dict(method="bcgd", weights="symmetric:2", act_bits=2, learn_alpha=True),
]


def cfg_of(**kw) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **kw})


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _strip(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in records]


@pytest.mark.parametrize("case", [dict(method="float")] + QUANT_CASES,
                         ids=lambda c: c["method"])
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, case):
    cfg = cfg_of(**case)
    full = train(cfg, tmp_path / "full", resume=False)
    assert train(cfg, tmp_path / "cut", resume=False, stop_after_epochs=1) is None
    assert not (tmp_path / "cut" / "result.json").exists()
    ck = load_checkpoint(tmp_path / "cut")
    assert ck["epoch"] == 1
    resumed = train(cfg, tmp_path / "cut", resume=True)
    a = torch.load(tmp_path / "full" / "model.pt")
    b = torch.load(tmp_path / "cut" / "model.pt")
    assert _same_state(a, b)  # bitwise: same final (quantized) weights
    assert _strip(full["history"]) == _strip(resumed["history"])
    ra = read_jsonl(tmp_path / "full" / "metrics.jsonl")
    rb = read_jsonl(tmp_path / "cut" / "metrics.jsonl")
    assert [r["type"] for r in ra] == [r["type"] for r in rb]
    first_diag_after_resume = True
    for x, y in zip(ra, rb):
        if x["type"] == "diag" and x["epoch"] >= 1 and first_diag_after_resume:
            # cross-record metrics need the previous record, which the optimizer state does
            # not carry: after a resume they start again (None), everything else is equal
            first_diag_after_resume = False
            cross = ("flip_frac", "approx_orth_ratio", "lipschitz_est")
            assert all(y[k] is None for k in y if k.endswith(cross) and x[k] != y[k])
            x = {k: v for k, v in x.items() if not k.endswith(cross)}
            y = {k: v for k, v in y.items() if not k.endswith(cross)}
        assert x == y


@pytest.mark.parametrize("case", QUANT_CASES, ids=lambda c: c["method"])
def test_eval_uses_exactly_quantized_weights(tmp_path, case):
    cfg = cfg_of(**case)
    res = train(cfg, tmp_path, resume=False)
    sd = torch.load(tmp_path / "model.pt")
    from theory.sets import parse_qset

    n_levels = parse_qset(cfg.weights).n_levels
    convs = [k for k in sd if k.startswith("features.") and k.endswith(".weight")
             and sd[k].dim() == 4]
    assert convs
    for k in convs:  # finalized weights: one scale per tensor times at most n_levels values
        assert torch.unique(sd[k]).numel() <= n_levels
    # re-evaluate the finalized model independently: equals the last eval record
    from qopt.data import load_digits
    from qopt.train.setup import build_model_for

    d = load_digits()
    model = build_model_for(cfg, d)
    model.load_state_dict(sd)
    model.eval()
    with torch.no_grad():
        acc = (model(d.x_test).argmax(1) == d.y_test).double().mean().item()
    assert acc == pytest.approx(res["final"]["test_acc"], abs=1e-12)


def test_run_directory_format(tmp_path):
    cfg = cfg_of(**QUANT_CASES[0])
    train(cfg, tmp_path, resume=False)
    conf = json.loads((tmp_path / "config.json").read_text())
    assert conf["method"] == "binaryconnect" and conf["weights"] == "binary"
    recs = read_jsonl(tmp_path / "metrics.jsonl")
    kinds = {r["type"] for r in recs}
    assert kinds == {"train", "eval", "diag", "probe", "final"}
    for r in recs:
        assert isinstance(r["step"], int) and isinstance(r["epoch"], int)
    ev = [r for r in recs if r["type"] == "eval"]
    assert len(ev) == 3 and {"test_acc", "test_loss", "train_loss"} <= set(ev[0])
    diag = [r for r in recs if r["type"] == "diag"][0]
    assert any(k.endswith("/dist2") for k in diag)
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["epochs"] == 3 and res["final"]["epoch"] == 2
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "quantized.pt").exists()
    assert (tmp_path / "latent.pt").exists()
    assert conf["config_hash"] == res["config_hash"] and conf["data"]["sha256"]
    assert set(conf["tensors"]) and all(t["qset"] == "binary" for t in conf["tensors"].values())
    assert res["final_raw"] == res["history"][-1]


def test_finished_run_is_returned_not_retrained(tmp_path):
    cfg = cfg_of(method="float", epochs=1)
    train(cfg, tmp_path, resume=False)
    mtime = os.stat(tmp_path / "result.json").st_mtime_ns
    train(cfg, tmp_path, resume=True)
    assert os.stat(tmp_path / "result.json").st_mtime_ns == mtime


def test_seed_controls_the_run(tmp_path):
    a = train(cfg_of(method="float", epochs=1), tmp_path / "a", resume=False)
    b = train(cfg_of(method="float", epochs=1), tmp_path / "b", resume=False)
    c = train(cfg_of(method="float", epochs=1, seed=1), tmp_path / "c", resume=False)
    sa, sb, sc = (torch.load(tmp_path / n / "model.pt") for n in "abc")
    assert _same_state(sa, sb) and not _same_state(sa, sc)
    assert a["final"]["test_loss"] == b["final"]["test_loss"]
    assert c["final"]["test_loss"] != a["final"]["test_loss"]


def test_schedules_match_their_closed_forms():
    ms = EpochFactor("multistep", 10, (3, 6), 0.1)
    assert [ms(e) for e in (0, 2, 3, 5, 6, 9)] == pytest.approx([1, 1, .1, .1, .01, .01])
    cos = EpochFactor("cosine", 8)
    assert [cos(e) for e in range(9)] == pytest.approx(
        [0.5 * (1 + math.cos(math.pi * e / 8)) for e in range(9)])
    wc = EpochFactor("warmup_cosine", 10, warmup_epochs=5, warmup_factor=0.01)
    assert [wc(e) for e in range(5)] == [0.01] * 5
    assert wc(5) == 1.0 and wc(10) == pytest.approx(0.0, abs=1e-12)
    # through torch: LambdaLR per epoch, state_dict round trip
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    s = build_scheduler(opt, "multistep", 10, 0.1, milestones=(2,), gamma=0.5)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05])
    s2 = build_scheduler(torch.optim.SGD([p], lr=0.1), "multistep", 10, 0.1, milestones=(2,))
    s2.load_state_dict(s.state_dict())
    assert s2.last_epoch == 4
    with pytest.raises(ValueError, match="milestones"):
        build_scheduler(opt, "multistep", 10, 0.1, milestones=(5, 2))
    with pytest.raises(ValueError, match="schedule must be"):
        build_scheduler(opt, "linear", 10, 0.1)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"a": 1})

    class Boom:
        pass

    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": Boom()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["r.json"]  # no temp file left behind


def test_rng_state_round_trip():
    seed_everything(3)
    st = rng_state()
    a = torch.rand(3)
    set_rng_state(st)
    assert torch.equal(torch.rand(3), a)


@pytest.mark.parametrize("bad,match", [
    (dict(method="adamw"), "method must be one of"),
    (dict(model="resnet7"), "model must be one of"),
    (dict(method="bcgd", weights="uniform:99"), "bits"),
    (dict(method="bcgd", weights="binary", act_bits=0), "act_bits"),
    (dict(method="bcgd"), "needs a weights set"),
    (dict(dataset="cifar10", data_dir="/nonexistent/dir"), "/nonexistent/dir"),
    (dict(lr=-1.0), "lr must be"),
    (dict(lrate=0.1), "unknown config keys"),
    (dict(method="binaryrelax", weights="binary", method_args={"rho": 1}), "method_args"),
])
def test_bad_configs_raise_before_training(tmp_path, bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        train(cfg_of(**bad), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_uniq_run_calibrates_activation_steps_from_data(tmp_path):
    """UniQ's simple_initialization (``docs/math/uniq.md#initialisation``): before training, every
    activation step is max over calibration batches of sqrt(2 E[x^2]) * c_a[b]. With a negligible lr
    (1e-12) the saved steps equal an independent recomputation (fresh model from the same seed,
    calibrated on the same unshuffled batches) to 1e-6 relative, and differ from the data-free
    default."""
    from qopt.nn import UniQActivation, calibrate_uniq
    from qopt.nn.constants import uniq_activation_constant
    from qopt.train.data import load_run_data
    from qopt.train.setup import build_model_for

    cfg = cfg_of(method="uniq", weights="uniq:2", act_bits=2, lr=1e-12, epochs=1)
    train(cfg, tmp_path, resume=False)
    sd = torch.load(tmp_path / "model.pt")
    steps = {k: v for k, v in sd.items() if k.endswith("act_quantizer.delta")}
    assert steps, "a uniq run with act_bits must have activation steps"
    seed_everything(cfg.seed, cfg.deterministic)
    d = load_run_data(cfg)  # the run's training split (validation held out)
    model = build_model_for(cfg, d)
    xs = d.x_train if d.test_transform is None else d.test_transform(d.x_train)
    batches = [xs[i:i + cfg.batch_size] for i in range(0, xs.shape[0], cfg.batch_size)]
    model.train()
    calibrate_uniq(model, batches, num_batches=100)
    default = uniq_activation_constant(2)
    checked = 0
    for name, mod in model.named_modules():
        if isinstance(mod, UniQActivation):
            got = steps[f"{name}.delta"].item()
            assert got == pytest.approx(mod.delta.item(), rel=1e-6)
            assert abs(got - default) > 1e-3 * default  # calibrated, not the default
            checked += 1
    assert checked == len(steps)
