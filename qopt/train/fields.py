"""Field metadata of :class:`~qopt.train.config.TrainConfig`: one source for validation, the
CLI (``qopt train --help``), TOML/JSON parsing and the README tables.

Every field is declared with :func:`option`: its default, a one-line help, its ``kind`` (how a
command-line string is parsed: ``str``, ``int``, ``float``, ``bool``, ``dict``, ``list``),
whether ``None`` is allowed, its ``choices`` (when closed) and its ``group`` (section of the
help). This module imports neither torch nor any engine module, so ``--help`` can be built
without them; the choice tuples of engine registries are mirrored here and a test checks they
stay equal to the registries (``tests/qopt/test_config_fields.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: trainer methods: the QuantOptimizer methods (mirror of ``qopt.methods.registry.METHODS``)
#: plus ``float`` (no weight quantization) and ``uniq`` (UniQ modules with a learnable step,
#: quantizing in the forward pass)
METHODS = ("float", "binaryconnect", "binaryrelax", "bcgd", "parq", "proxquant", "uniq")
ALIASES = {"bc": "binaryconnect", "br": "binaryrelax", "fp": "float", "none": "float"}
#: mirror of ``qopt.data.DATASETS``
DATASETS = ("mnist1d", "digits", "mnist", "teacher", "cifar10", "cifar100", "imagenet")
#: mirror of ``qopt.models.MODELS`` (a user model is ``"package.module:Class"``)
MODELS = ("mlp", "cnn1d", "cnn2d", "lenet5", "resnet20", "resnet32", "resnet44", "resnet56",
          "resnet110", "vgg11", "vgg13", "vgg16", "vgg19", "twolayer")
#: mirrors of ``qopt.nn.ste`` / ``qopt.nn.constants``
STES = ("clipped_relu", "relu", "identity")
ACT_FORWARDS = ("ceil", "round")
ALPHA_GRADS = ("mean", "ae", "min", "pact", "lsq")
ALPHA_INITS = ("matched", "round", "bcgd")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "multistep", "cosine", "warmup_cosine")
DEVICES = ("auto", "cpu", "cuda", "cuda:<i>", "mps")
AMPS = ("auto", "bf16", "off")
KINDS = ("str", "int", "float", "bool", "dict", "list")
GROUPS = ("data", "model", "quantization", "activations", "optimisation", "evaluation",
          "execution")


def option(default: Any = dataclasses.MISSING, *, help: str, kind: str,  # noqa: A002
           group: str, choices: tuple | None = None, nullable: bool = False,
           factory: Any = None) -> Any:
    """A dataclass field carrying its CLI/TOML metadata (see the module docstring)."""
    if kind not in KINDS or group not in GROUPS:
        raise ValueError(f"option: bad kind {kind!r} or group {group!r}")
    meta = {"help": help, "kind": kind, "group": group, "choices": choices,
            "nullable": nullable}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def field_default(f: dataclasses.Field) -> Any:
    """The default value of a dataclass field (calling its factory)."""
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return f.default


def format_default(v: Any) -> str:
    """A default as the user would type it (``none``, ``true``, ``[80, 140]``, ``{}``)."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_default(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={format_default(x)}" for k, x in v.items()) + "}"
    return str(v)


def help_line(f: dataclasses.Field) -> str:
    """``help (default: X; choices: a | b)`` for one field."""
    m = f.metadata
    extra = [f"default: {format_default(field_default(f))}"]
    if m.get("choices"):
        extra.append("choices: " + " | ".join(map(str, m["choices"])))
    return f"{m['help']} ({'; '.join(extra)})"
