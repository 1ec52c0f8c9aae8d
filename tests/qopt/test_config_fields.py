"""TrainConfig's field metadata is the one source of the CLI (issue 15 item 1): every option
has a description, its default and its choices; key=value tables; the mirrored choice lists
equal the engine registries; the config and parser modules import without torch."""

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from qopt.commands.train import add_arguments, config_from_args
from qopt.train import fields as F
from qopt.train.config import TrainConfig, config_fields
from qopt.train.fields import field_default, format_default
from qopt.train.options import field_value
from qopt.train.values import parse_list, parse_table

ROOT = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qopt train")
    add_arguments(p)
    return p


def test_every_field_has_an_option_with_help_default_and_choices():
    actions = {a.dest: a for a in _parser()._actions}
    for f in config_fields():
        a = actions[f"cfg_{f.name}"]
        assert a.option_strings == ["--" + f.name.replace("_", "-")]
        assert f.metadata["help"] and a.help.startswith(f.metadata["help"].replace("%", "%%"))
        assert f"default: {format_default(field_default(f))}" in a.help
        if f.metadata["choices"]:
            assert "choices: " + " | ".join(map(str, f.metadata["choices"])) in a.help
    helptext = _parser().format_help()
    assert "binaryrelax: lam0=" in helptext and "bcgd: rho=" in helptext  # method arguments


def test_help_of_every_option_of_train_and_study_states_a_default(capsys):
    from qopt.commands import study

    p = argparse.ArgumentParser()
    study.add_arguments(p)
    for parser in (_parser(), p):
        for a in parser._actions:
            if a.help == argparse.SUPPRESS or a.dest == "help":
                continue
            assert a.help and "default" in a.help, (a.dest, a.help)
    epilog = p.format_help()
    for f in config_fields():  # --set FIELD=V: every field listed with its default
        assert f"{f.name}={format_default(field_default(f))}" in epilog.replace("\n    ", " ")


@pytest.mark.parametrize("text,want", [
    ("lam0=2,growth=1.1", {"lam0": 2, "growth": 1.1}),
    ("{lam0 = 2, growth = 1.1}", {"lam0": 2, "growth": 1.1}),
    ("per=epoch,phase2_at=15", {"per": "epoch", "phase2_at": 15}),
    ("channels=[4,8],depth=2", {"channels": [4, 8], "depth": 2}),
    ("", {}),
])
def test_key_value_tables(text, want):
    assert parse_table(text) == want


def test_bad_key_value_table_names_the_option():
    with pytest.raises(ValueError, match="method_args \\(--method-args\\): expected key=value"):
        field_value("method_args", "lam0")


def test_lists_and_booleans():
    assert parse_list("80,140") == [80, 140] and parse_list("[80, 140]") == [80, 140]
    assert field_value("keep_float", "first,last") == ["first", "last"]
    assert field_value("betas", "0.8,0.99") == [0.8, 0.99]
    assert field_value("nesterov", "true") is True and field_value("compile", "no") is False
    assert field_value("axis", "none") is None and field_value("act_alpha", "0.5") == 0.5


def test_reproducer_method_args_key_value_on_the_command_line():
    """`--method-args lam0=2` was parsed as characters ('unknown method_args ['0','2',...]')."""
    args = _parser().parse_args(["--method", "br", "--weights", "binary", "--method-args",
                                 "lam0=2,growth=1.1", "--nesterov", "--act-bits", "2",
                                 "--keep-float", "first,last"])
    d = config_from_args(args)
    assert d["method_args"] == {"lam0": 2, "growth": 1.1} and d["nesterov"] is True
    cfg = TrainConfig.from_dict({**d, "dataset": "digits", "model": "mlp"}).validate()
    assert cfg.method_args == {"lam0": 2, "growth": 1.1} and cfg.keep_float == ("first", "last")


def test_mirrored_choices_equal_the_registries():
    from qopt.data import DATASETS
    from qopt.models import MODELS
    from qopt.nn.constants import ALPHA_INITS
    from qopt.nn.ste import ALPHA_GRADS, FORWARDS, STES
    from qopt.train.schedules import SCHEDULES

    assert set(F.DATASETS) == set(DATASETS) and set(F.MODELS) == set(MODELS)
    assert set(F.STES) == set(STES) and set(F.ACT_FORWARDS) == set(FORWARDS)
    assert set(F.ALPHA_GRADS) == set(ALPHA_GRADS) and set(F.ALPHA_INITS) == set(ALPHA_INITS)
    assert F.SCHEDULES == SCHEDULES
    from qopt.methods.registry import METHODS

    assert set(F.METHODS) == {"float", "uniq", *METHODS}


def test_config_and_parser_import_without_torch():
    """qopt.train.config / fields / options / identity / values build --help without torch
    (imported with the package __init__ files stubbed: qopt/__init__ itself imports torch
    today)."""
    code = f"""
import sys, types
sys.modules['torch'] = None  # any 'import torch' now fails
for name, path in (('qopt', {str(ROOT / 'qopt')!r}), ('qopt.train', {str(ROOT / 'qopt/train')!r})):
    m = types.ModuleType(name); m.__path__ = [path]; sys.modules[name] = m
import argparse
from qopt.train.options import add_config_arguments
from qopt.train.identity import config_hash, identity
from qopt.train.config import TrainConfig
p = argparse.ArgumentParser(); add_config_arguments(p)
assert '--method-args' in p.format_help()
TrainConfig.from_dict({{'lr': 1}})
print('ok')
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


@pytest.mark.parametrize("bad,match", [
    (dict(betas=[0.9]), "betas"), (dict(betas=[0.9, 1.0]), "betas"), (dict(eps=0.0), "eps"),
    (dict(optimizer="lion"), "optimizer must be one of"),
    (dict(act_alpha=-1.0), "act_alpha"), (dict(alpha_grad_clip=0.0), "alpha_grad_clip"),
    (dict(act_init="magic"), "act_init"), (dict(bn_recalib_batches=-1), "bn_recalib_batches"),
    (dict(phase2_lr_scale=0.0), "phase2_lr_scale"), (dict(lr="fast"), "lr must be a float"),
    (dict(method=5), "method must be a string"), (dict(nesterov="maybe"), "nesterov"),
    (dict(model="/tmp/evil.py:Net"), "not a file path"),
    (dict(model="no_such_pkg_xyz.mod:Net"), "cannot import module"),
    (dict(model="tests.qopt.user_model:Nope"), "has no attribute"),
    (dict(device="gpu"), "device must be"),
])
def test_bad_fields_are_named(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TrainConfig.from_dict({"dataset": "digits", "model": "mlp", **bad}).validate()


def test_fields_are_grouped_and_documented():
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata["group"] in F.GROUPS and f.metadata["kind"] in F.KINDS
        assert len(f.metadata["help"]) > 10
