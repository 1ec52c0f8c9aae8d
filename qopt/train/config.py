r"""The resolved configuration of one training run (a frozen, validated dataclass).

Everything a run needs is one :class:`TrainConfig`; it is written as ``RUN_DIR/config.json``
(with recorded metadata beside the fields, see :data:`RECORDED_KEYS`) and built from CLI flags,
a TOML table, a study grid cell, or a run's own ``config.json`` (``qopt train --config
RUN/config.json`` reruns it). :meth:`TrainConfig.validate` checks EVERY field (types, names,
ranges, the data directory, the method's own arguments) before anything is trained, so a bad
study fails up front with a message naming the field.

Each field carries its help text, kind, choices and group (:mod:`qopt.train.fields`); the CLI
and ``--help`` are generated from them. This module imports no torch at import time.

Methods (``method``): ``float`` (no weight quantization), ``binaryconnect`` (alias ``bc``),
``binaryrelax`` (``br``), ``bcgd``, ``uniq`` (UniQ modules with a learnable step, weights
``uniq:B`` or ``symmetric:B``). ``weights`` is a ``theory.parse_qset`` spec (``binary``,
``ternary``, ``uniform:4``, ``symmetric:2``, ...). ``act_bits`` quantizes every ReLU
(BCGD's quantized ReLU; straight-through proxy ``ste``; step α options ``act_alpha``,
``act_init``, ``alpha_grad*``, ``alpha_min``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from qopt.suggest import did_you_mean
from qopt.train import fields as F
from qopt.train.fields import ALIASES, METHODS, option

MAX_ACT_BITS = 16
#: keys of ``config.json`` that are recorded facts about a run, not settings: accepted (and
#: ignored) by :meth:`TrainConfig.from_dict` so a run's own ``config.json`` can be fed back
RECORDED_KEYS = ("data", "world_size", "device_resolved", "config_hash", "identity_version",
                 "method_config", "init", "tensors", "steps_per_epoch", "amp_resolved",
                 "versions", "schedule_clock")
_MODEL_PATH = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Fields, defaults and choices: ``qopt train --help`` (generated from the
    field metadata below); every field is checked by :meth:`validate`."""

    # -- data --------------------------------------------------------------------------------
    dataset: str = option("mnist1d", help="data set (cifar10/100, imagenet need data_dir), or "
                          "'package.module:function' returning a qopt.data.DataBundle",
                          kind="str", group="data",
                          choices=(*F.DATASETS, "package.module:function"))
    data_dir: str | None = option(
        None, help="directory of the data files (cifar10/100, imagenet); a location, not part "
        "of the run's identity: the data's checksum is recorded and checked", kind="str",
        group="data", nullable=True)
    dataset_args: dict = option(
        help="data set options, e.g. augment=false (CIFAR) or m,n,n_train,n_test,seed (teacher)",
        kind="dict", group="data", factory=dict)
    val_frac: float = option(
        0.1, help="fraction of the training data held out as the validation split (every "
        "selection reads it, never the test split; CIFAR: 5000 of 50000)", kind="float",
        group="data")
    val_seed: int = option(0, help="seed of the validation split (which training samples are "
                           "held out; independent of the training seed)", kind="int",
                           group="data")
    # -- model -------------------------------------------------------------------------------
    model: str = option(
        "cnn1d", help="registered model, or 'package.module:Class' built as "
        "Class(input_shape, num_classes, **model_args)", kind="str", group="model",
        choices=(*F.MODELS, "package.module:Class"))
    model_args: dict = option(help="keyword arguments of the model, e.g. channels=32,depth=3",
                              kind="dict", group="model", factory=dict)
    # -- quantization ------------------------------------------------------------------------
    method: str = option("float", help="training method (aliases: bc, br, fp)", kind="str",
                         group="quantization", choices=METHODS)
    weights: str | None = option(
        None, help="weight set: binary, ternary, uniform:B, symmetric:B, int:B, uint:B "
        "(affine, integer zero point), nf4, grid:l1,l2,..., scaled:l1,... (uniq: uniq:B); none "
        "for float", kind="str", group="quantization",
        nullable=True)
    axis: int | None = option(None, help="one scale per slice along this weight axis (none: one "
                              "scale per tensor)", kind="int", group="quantization",
                              nullable=True)
    group_size: int | None = option(
        None, help="one scale per block of this many consecutive weights of each row (the "
        "slice along axis, or the whole weight); a shorter tail block is its own block (none: "
        "per slice / tensor)", kind="int", group="quantization", nullable=True)
    keep_float: tuple[str, ...] = option(
        ("last",), help="modules left in float: names, 'first', 'last'", kind="list",
        group="quantization")
    method_args: dict = option(
        help="arguments of the method, e.g. lam0=1,growth=1.04 (binaryrelax) or rho=1e-5 "
        "(bcgd); see the method list below", kind="dict", group="quantization", factory=dict)
    # -- activations ---------------------------------------------------------------------------
    act_bits: int | None = option(None, help="quantize every ReLU to this many bits (none: "
                                  "float ReLUs)", kind="int", group="activations", nullable=True)
    act_forward: str = option("ceil", help="quantized ReLU forward: ceil (BCGD) or round",
                              kind="str", group="activations", choices=F.ACT_FORWARDS)
    ste: str = option("clipped_relu", help="straight-through proxy of the ReLU's derivative",
                      kind="str", group="activations", choices=F.STES)
    alpha_grad: str | None = option(
        "mean", help="surrogate gradient of the step alpha (none: mean for ceil, lsq for round)",
        kind="str", group="activations", choices=F.ALPHA_GRADS, nullable=True)
    learn_alpha: bool = option(False, help="learn the activation step alpha", kind="bool",
                               group="activations")
    act_alpha: float | None = option(
        None, help="initial (or fixed) activation step alpha; none: the Gaussian-optimal "
        "constant chosen by act_init", kind="float", group="activations", nullable=True)
    act_init: str = option("matched", help="Gaussian-optimal initial alpha when act_alpha is "
                           "none", kind="str", group="activations", choices=F.ALPHA_INITS)
    alpha_grad_rate: float | None = option(
        None, help="multiplier of the alpha gradient (none: 1, or 1/sqrt(N M) for lsq; released "
        "BCGD code: 0.01)", kind="float", group="activations", nullable=True)
    alpha_grad_clip: float | None = option(
        None, help="clip the alpha gradient to [-c, c] (none: no clip; released BCGD code: 1)",
        kind="float", group="activations", nullable=True)
    alpha_min: float = option(1e-3, help="lower bound on alpha in the forward pass (released "
                              "BCGD code: 1e-3)", kind="float", group="activations")
    # -- optimisation --------------------------------------------------------------------------
    optimizer: str = option("sgd", help="base optimizer (adamw: decoupled weight decay)",
                            kind="str", group="optimisation", choices=F.OPTIMIZERS)
    lr: float = option(0.1, help="base learning rate", kind="float", group="optimisation")
    momentum: float = option(0.9, help="SGD momentum (sgd only)", kind="float",
                             group="optimisation")
    nesterov: bool = option(False, help="Nesterov momentum (sgd only)", kind="bool",
                            group="optimisation")
    betas: tuple[float, ...] = option((0.9, 0.999), help="Adam/AdamW (beta1, beta2)",
                                      kind="list", group="optimisation")
    eps: float = option(1e-8, help="Adam/AdamW epsilon", kind="float", group="optimisation")
    weight_decay: float = option(0.0, help="weight decay (L2 for sgd/adam, decoupled for adamw)",
                                 kind="float", group="optimisation")
    no_decay_steps: bool = option(True, help="no weight decay on learned steps (UniQ delta, "
                                  "activation alpha)", kind="bool", group="optimisation")
    batch_size: int = option(128, help="global mini-batch size", kind="int",
                             group="optimisation")
    epochs: int = option(10, help="training epochs", kind="int", group="optimisation")
    schedule: str = option("cosine", help="per-epoch learning-rate schedule", kind="str",
                           group="optimisation", choices=F.SCHEDULES)
    milestones: tuple[int, ...] = option((), help="multistep: epochs where lr *= gamma",
                                         kind="list", group="optimisation")
    gamma: float = option(0.1, help="multistep factor", kind="float", group="optimisation")
    warmup_epochs: int = option(0, help="warmup_cosine: constant-lr warm-up epochs", kind="int",
                                group="optimisation")
    warmup_lr: float | None = option(None, help="warmup_cosine: the warm-up lr", kind="float",
                                     group="optimisation", nullable=True)
    phase2_lr_scale: float = option(
        1.0, help="extra lr factor from the epoch where the method's Phase II starts "
        "(BinaryRelax); 1 = none: the default cosine schedule is already at 15% of the base lr "
        "at 75% of training", kind="float", group="optimisation")
    nonfinite: str = option(
        "raise", help="a non-finite loss, gradient or weight: raise = stop the run (exit 1, "
        "last good checkpoint kept); skip = skip that step on device, count it, go on (quantized "
        "methods only)", kind="str", group="optimisation", choices=("raise", "skip"))
    max_skip_frac: float = option(
        0.1, help="nonfinite = skip: the largest share of the run's optimizer steps that may be "
        "skipped; more, or a non-finite final loss, ends the run with exit 1 (training "
        "diverged)", kind="float", group="optimisation")
    init_from: str | None = option(
        None, help="start from float weights: a run directory (its model.pt) or a state-dict "
        "file; a location (its checksum is recorded and checked)", kind="str",
        group="optimisation", nullable=True)
    # -- evaluation ----------------------------------------------------------------------------
    bn_recalib_batches: int = option(
        100, help="before the final evaluation of a quantized run, re-estimate BatchNorm "
        "statistics at the exactly quantized weights on this many training batches (0: off; "
        "no effect without BatchNorm)", kind="int", group="evaluation")
    # -- execution -----------------------------------------------------------------------------
    seed: int = option(0, help="seed of initialisation and data order", kind="int",
                       group="execution")
    device: str = option("auto", help="device (auto: cuda when available)", kind="str",
                         group="execution", choices=F.DEVICES)
    amp: str = option("auto", help="bf16 autocast (auto: on for CUDA)", kind="str",
                      group="execution", choices=F.AMPS)
    compile: bool = option(False, help="torch.compile the model", kind="bool",
                           group="execution")
    deterministic: bool = option(False, help="deterministic torch kernels (slower on GPU)",
                                 kind="bool", group="execution")
    diag_every: int = option(50, help="optimizer diagnostics every N steps (0: never; "
                             "qopt verify run reads them)", kind="int", group="execution")
    log_every: int = option(50, help="training-loss record every N steps (0: never)",
                            kind="int", group="execution")
    num_threads: int | None = option(None, help="torch CPU threads (none: torch's default)",
                                     kind="int", group="execution", nullable=True)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict (TOML table, JSON, a run's ``config.json``).

        Unknown keys raise ``ValueError``; :data:`RECORDED_KEYS` are ignored. Coercions: lists
        -> tuples, ints -> floats for float fields, ``"none"``/``""`` -> None for nullable
        fields, method aliases -> canonical names. Types are checked by :meth:`validate`.
        """
        if not isinstance(d, dict):
            raise TypeError(f"config must be a table/dict, got {type(d).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields) - set(RECORDED_KEYS))
        if unknown:
            hints = "".join(did_you_mean(k, fields).replace("; did you mean", f"; {k}: did "
                                                            "you mean") for k in unknown)
            raise ValueError(f"unknown config keys {unknown}; known keys: {sorted(fields)}"
                             f"{hints}")
        kw = {k: v for k, v in d.items() if k in fields}
        for k, v in kw.items():
            kw[k] = _coerce(fields[k], v)
        if isinstance(kw.get("method"), str):
            m = kw["method"].lower()
            kw["method"] = ALIASES.get(m, m)
        return cls(**kw)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (same coercions as :meth:`from_dict`)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field (tuples as lists)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: list(v) if isinstance(v, tuple) else
                (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> TrainConfig:
        """Check every field; ``ValueError``/``TypeError`` naming the field. Returns self."""
        from qopt.train.validation import validate_config

        validate_config(self)
        return self

    def uniq_bits(self) -> int:
        """Bits of a ``uniq`` run: weights ``uniq:B`` or ``symmetric:B`` (1 <= B <= 16)."""
        spec = str(self.weights)
        kind, _, bits = spec.partition(":")
        if kind not in ("uniq", "symmetric") or not bits.isdigit():
            raise ValueError(f"method 'uniq' needs weights 'uniq:B' or 'symmetric:B', got "
                             f"{spec!r}")
        return int_in("weights bits", int(bits), 1, MAX_ACT_BITS)

    @property
    def quantizes_weights(self) -> bool:
        """True for every method except ``float``."""
        return self.method != "float"

    @property
    def is_user_dataset(self) -> bool:
        """``dataset`` names a user function ``package.module:function``."""
        return ":" in self.dataset

    @property
    def is_user_model(self) -> bool:
        """``model`` names a user class ``package.module:Class``."""
        return ":" in self.model


def _coerce(f: dataclasses.Field, v: Any) -> Any:
    m = f.metadata
    if m.get("nullable") and (v is None or (isinstance(v, str) and v.strip().lower() in
                                            ("", "none", "null"))):
        return None
    kind = m.get("kind")
    if kind == "list":
        if isinstance(v, str):
            v = [v]
        if isinstance(v, (list, tuple)):
            return tuple(float(x) if f.name == "betas" and isinstance(x, int)
                         and not isinstance(x, bool) else x for x in v)
    if kind == "float" and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


def config_fields() -> tuple[dataclasses.Field, ...]:
    """The fields of :class:`TrainConfig` (with their metadata)."""
    return dataclasses.fields(TrainConfig)


def is_model_path(name: str) -> bool:
    """True for ``package.module:Class`` (dotted identifiers, no file path)."""
    return bool(_MODEL_PATH.fullmatch(name))


def int_in(name: str, v: object, lo: int, hi: int) -> int:
    """``v`` if it is an int in [lo, hi]; else ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, got {type(v).__name__} {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def positive(name: str, v: object) -> None:
    """``ValueError`` unless ``v`` is a positive finite real number."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
            or not v > 0:
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")


# compatibility: these moved to qopt.train.identity
from qopt.train.identity import EXECUTION_FIELDS as RUNTIME_FIELDS  # noqa: E402,F401
from qopt.train.identity import config_diff  # noqa: E402,F401
