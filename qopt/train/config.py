r"""The resolved configuration of one training run (a frozen, validated dataclass).

Everything a run needs is one :class:`TrainConfig`; it is written as ``RUN_DIR/config.json``
and built from CLI flags, a TOML table, or a study grid cell. :func:`TrainConfig.validate`
checks EVERY field (names, ranges, the data directory) before anything is trained, so a bad
study fails up front with a message naming the field.

Methods (``method``): ``float`` (no weight quantization), ``binaryconnect`` (alias ``bc``),
``binaryrelax`` (``br``), ``bcgd``, ``uniq`` (UniQ modules with a learnable step, weights
``uniq:B`` or ``symmetric:B``). ``weights`` is a ``theory.parse_qset`` spec (``binary``,
``ternary``, ``uniform:4``, ``symmetric:2``, ...). ``act_bits`` quantizes every ReLU
(BCGD's quantized ReLU, straight-through proxy ``ste``: ``clipped_relu``, ``relu``,
``identity``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from qopt.train.schedules import check_schedule

METHODS = ("float", "binaryconnect", "binaryrelax", "bcgd", "uniq")
ALIASES = {"bc": "binaryconnect", "br": "binaryrelax", "fp": "float", "none": "float"}
METHOD_ARGS = {
    "float": (),
    "binaryconnect": (),
    "binaryrelax": ("lam0", "growth", "per", "phase2_at", "phase2_unit"),
    "bcgd": ("rho", "rho_growth", "rho_max", "per"),
    "uniq": (),
}
STES = ("clipped_relu", "relu", "identity")
ACT_FORWARDS = ("ceil", "round")
MAX_ACT_BITS = 16


@dataclass(frozen=True)
class TrainConfig:
    """One training run. See the module docstring; every field is validated by
    :meth:`validate`."""

    # data
    dataset: str = "mnist1d"
    data_dir: str | None = None
    dataset_args: dict = field(default_factory=dict)
    # model
    model: str = "cnn1d"
    model_args: dict = field(default_factory=dict)
    # quantization
    method: str = "float"
    weights: str | None = None
    axis: int | None = None
    keep_float: tuple[str, ...] = ("last",)
    method_args: dict = field(default_factory=dict)
    act_bits: int | None = None
    act_forward: str = "ceil"
    ste: str = "clipped_relu"
    alpha_grad: str | None = "mean"
    learn_alpha: bool = False
    # optimisation
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    no_decay_steps: bool = True
    batch_size: int = 128
    epochs: int = 10
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: int = 0
    warmup_lr: float | None = None
    init_from: str | None = None
    # run
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    compile: bool = False
    deterministic: bool = False
    diag_every: int = 50
    log_every: int = 50
    num_threads: int | None = None

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict (TOML table, JSON); unknown keys raise ``ValueError``."""
        if not isinstance(d, dict):
            raise TypeError(f"config must be a table/dict, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known keys: {sorted(names)}")
        kw = dict(d)
        for k in ("keep_float", "milestones"):
            if k in kw and kw[k] is not None:
                if isinstance(kw[k], str):
                    kw[k] = (kw[k],)
                kw[k] = tuple(kw[k])
        if "method" in kw and isinstance(kw["method"], str):
            kw["method"] = ALIASES.get(kw["method"].lower(), kw["method"].lower())
        for k in ("weights", "init_from", "data_dir", "warmup_lr", "act_bits", "axis",
                  "num_threads", "alpha_grad"):
            if kw.get(k) in ("", "none", "None"):
                kw[k] = None
        return cls(**kw)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (same coercions as :meth:`from_dict`)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> TrainConfig:
        """Check every field; ``ValueError``/``TypeError`` naming the field. Returns self."""
        from qopt.data import check_data
        from qopt.models import MODELS
        from theory.sets import parse_qset

        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS} (aliases {sorted(ALIASES)}), "
                             f"got {self.method!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        check_data(self.dataset, self.data_dir, self.dataset_args)
        if self.method == "float":
            if self.weights is not None:
                raise ValueError(f"method 'float' takes no weights set, got {self.weights!r}")
        else:
            if self.weights is None:
                raise ValueError(f"method {self.method!r} needs a weights set (e.g. 'binary', "
                                 "'ternary', 'uniform:4', 'symmetric:2')")
            if self.method == "uniq":
                self.uniq_bits()
            else:
                try:
                    parse_qset(self.weights)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"weights: {exc}") from exc
        extra = set(self.method_args) - set(METHOD_ARGS[self.method])
        if extra:
            raise ValueError(f"unknown method_args {sorted(extra)} for method {self.method!r}; "
                             f"accepted: {list(METHOD_ARGS[self.method])}")
        self._check_engine_args()
        if self.axis is not None and (isinstance(self.axis, bool) or not isinstance(self.axis,
                                                                                    int)):
            raise TypeError(f"axis must be None or an int, got {self.axis!r}")
        if self.act_bits is not None:
            _int_in("act_bits", self.act_bits, 1, MAX_ACT_BITS)
        if self.ste not in STES:
            raise ValueError(f"ste must be one of {STES}, got {self.ste!r}")
        if self.act_forward not in ACT_FORWARDS:
            raise ValueError(f"act_forward must be one of {ACT_FORWARDS}, got "
                             f"{self.act_forward!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        _pos("lr", self.lr)
        for name in ("momentum", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        _int_in("batch_size", self.batch_size, 1, 1 << 24)
        _int_in("epochs", self.epochs, 1, 1 << 20)
        _int_in("seed", self.seed, 0, 2**63 - 1)
        _int_in("diag_every", self.diag_every, 0, 1 << 30)
        _int_in("log_every", self.log_every, 0, 1 << 30)
        check_schedule(self.schedule, self.epochs, self.milestones, self.gamma,
                       self.warmup_epochs, self.warmup_lr)
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")
                                          or self.device == "mps"):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda[:i]' or 'mps', got "
                             f"{self.device!r}")
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"amp must be 'auto', 'bf16' or 'off', got {self.amp!r}")
        if self.num_threads is not None:
            _int_in("num_threads", self.num_threads, 1, 1024)
        if not isinstance(self.keep_float, tuple) or not all(
                isinstance(k, str) for k in self.keep_float):
            raise TypeError(f"keep_float must be a list of module names, got {self.keep_float!r}")
        return self

    def _check_engine_args(self) -> None:
        """Build the method object and one quantized activation now, so their own argument
        checks (e.g. ``rho`` out of range, unknown ``alpha_grad``) fire before training."""
        from qopt.train.setup import activation_config, make_method

        if self.act_bits is not None:
            _int_in("act_bits", self.act_bits, 1, MAX_ACT_BITS)
        try:
            make_method(self)
            acts = activation_config(self)
            if acts is not None and self.method != "uniq":
                from qopt.nn import QuantReLU

                QuantReLU(**acts)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"method_args / activation settings: {exc}") from exc

    def uniq_bits(self) -> int:
        """Bits of a ``uniq`` run: weights ``uniq:B`` or ``symmetric:B`` (1 <= B <= 16)."""
        spec = str(self.weights)
        kind, _, bits = spec.partition(":")
        if kind not in ("uniq", "symmetric") or not bits.isdigit():
            raise ValueError(f"method 'uniq' needs weights 'uniq:B' or 'symmetric:B', got "
                             f"{spec!r}")
        return _int_in("weights bits", int(bits), 1, MAX_ACT_BITS)


#: fields that may change between a run and its resumption (they do not change the math)
RUNTIME_FIELDS = ("num_threads", "device", "compile", "log_every", "diag_every")


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Fields (other than :data:`RUNTIME_FIELDS`) whose values differ between two config dicts
    (as in ``RUN_DIR/config.json``)."""
    return sorted(k for k in new if k in old and old[k] != new[k] and k not in RUNTIME_FIELDS)


def _int_in(name: str, v: object, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, got {type(v).__name__} {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def _pos(name: str, v: object) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v == float("inf"):
        raise ValueError(f"{name} must be a positive finite number, got {v!r}")
