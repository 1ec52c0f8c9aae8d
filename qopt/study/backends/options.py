"""Where a study's runs execute: the ``[backend]`` table of a study file and ``qopt study``'s
backend flags, validated before anything is written.

::

    [backend]
    name = "slurm"               # local (default) | slurm | ray

    [backend.slurm]              # each run is one job, submitted through submitit
    partition = "gpu"
    time = "04:00:00"            # per job: minutes, or SLURM's [D-]HH:MM[:SS] / MM:SS forms
    gpus_per_run = 1
    cpus_per_run = 8             # default: [study] threads_per_worker
    mem_gb = 32
    array_parallelism = 16       # at most this many jobs of one array at once
    account = "proj"             # also qos, constraint
    setup = ["module load cuda"] # shell lines run before the job (environment set-up)
    additional = { exclude = "node3" }  # any other sbatch option, passed as --KEY=VALUE
    max_requeues = 3             # a job that hits its time limit is requeued and resumes
    cluster = "slurm"            # "local": the same jobs as local processes (tries a study file)

    [backend.ray]                # each run is one Ray task
    address = "auto"             # a running cluster; absent: an embedded local Ray
    num_cpus = 4                 # embedded Ray only; default workers x cpus_per_run
    cpus_per_run = 1             # default: [study] threads_per_worker
    gpus_per_run = 0

None of these settings changes a number a run computes (every run trains with ``[study]
threads_per_worker`` torch threads on every backend), so they are not part of any run's
identity; they are recorded in ``study.toml`` when they come from the study file.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BACKENDS", "BackendConfig", "RayOptions", "SlurmOptions", "backend_from_table",
           "parse_time_min", "with_overrides"]

BACKENDS = ("local", "slurm", "ray")
CLUSTERS = ("slurm", "local")
DEFAULT_TIME_MIN = 240


@dataclass(frozen=True)
class SlurmOptions:
    """``[backend.slurm]`` (module docstring). ``time_min`` is the per-job limit in minutes;
    ``cpus_per_run`` None means ``[study] threads_per_worker``."""

    cluster: str = "slurm"
    partition: str | None = None
    time_min: int = DEFAULT_TIME_MIN
    gpus_per_run: int = 0
    cpus_per_run: int | None = None
    mem_gb: float | None = None
    array_parallelism: int = 256
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: tuple[str, ...] = ()
    additional: dict[str, Any] = field(default_factory=dict)
    max_requeues: int = 3


@dataclass(frozen=True)
class RayOptions:
    """``[backend.ray]`` (module docstring); ``address`` None starts an embedded local Ray."""

    address: str | None = None
    num_cpus: int | None = None
    cpus_per_run: int | None = None
    gpus_per_run: float = 0.0


@dataclass(frozen=True)
class BackendConfig:
    """The chosen backend and the options of each."""

    name: str = "local"
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    ray: RayOptions = field(default_factory=RayOptions)

    def options(self) -> SlurmOptions | RayOptions | None:
        return getattr(self, self.name, None)


_SLURM_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")


def parse_time_min(value: Any, what: str = "[backend.slurm] time") -> int:
    """A SLURM time limit in whole minutes (seconds round up): an int (minutes) or one of
    SLURM's forms ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{what} must be >= 1 minute, got {value}")
        return value
    m = _SLURM_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"{what} must be minutes (int) or a SLURM time such as '90', "
                         f"'04:00:00' or '1-12:00', got {value!r}")
    days, a, b, c = (int(x) if x is not None else None for x in m.groups())
    if days is not None:  # D-HH[:MM[:SS]]
        secs = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif c is not None:  # HH:MM:SS
        secs = a * 3600 + b * 60 + c
    else:  # MM[:SS]
        secs = a * 60 + (b or 0)
    if secs < 1:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return -(-secs // 60)


def _int(table: str, key: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{table} {key} must be an int >= {lo}, got {v!r}")
    return v


def _num(table: str, key: str, v: Any, positive: bool) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
            v > 0 if positive else v >= 0) or v != v or v == float("inf"):
        raise ValueError(f"{table} {key} must be a finite number {'>' if positive else '>='} 0,"
                         f" got {v!r}")
    return float(v)


def _str(table: str, key: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"{table} {key} must be a non-empty string, got {v!r}")
    return v


def _slurm(t: dict[str, Any]) -> SlurmOptions:
    name = "[backend.slurm]"
    out: dict[str, Any] = {}
    for k, v in t.items():
        if k == "cluster":
            if v not in CLUSTERS:
                raise ValueError(f"{name} cluster must be one of {list(CLUSTERS)}, got {v!r}")
            out[k] = v
        elif k in ("partition", "account", "qos", "constraint"):
            out[k] = _str(name, k, v)
        elif k == "time":
            out["time_min"] = parse_time_min(v)
        elif k in ("gpus_per_run", "max_requeues"):
            out[k] = _int(name, k, v, 0)
        elif k in ("cpus_per_run", "array_parallelism"):
            out[k] = _int(name, k, v, 1)
        elif k == "mem_gb":
            out[k] = _num(name, k, v, positive=True)
        elif k == "setup":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValueError(f"{name} setup must be a list of shell lines, got {v!r}")
            out[k] = tuple(v)
        elif k == "additional":
            if not isinstance(v, dict) or not all(
                    isinstance(x, (str, int)) and not isinstance(x, bool) for x in v.values()):
                raise ValueError(f"{name} additional must be a table of sbatch options "
                                 f"(string or int values), got {v!r}")
            out[k] = dict(v)
        else:
            raise ValueError(f"unknown {name} key {k!r}; expected one of {SLURM_KEYS}")
    return SlurmOptions(**out)


def _ray(t: dict[str, Any]) -> RayOptions:
    name = "[backend.ray]"
    out: dict[str, Any] = {}
    for k, v in t.items():
        if k == "address":
            out[k] = _str(name, k, v)
        elif k in ("num_cpus", "cpus_per_run"):
            out[k] = _int(name, k, v, 1)
        elif k == "gpus_per_run":
            out[k] = _num(name, k, v, positive=False)
        else:
            raise ValueError(f"unknown {name} key {k!r}; expected one of {RAY_KEYS}")
    if out.get("address") is not None and out.get("num_cpus") is not None:
        raise ValueError(f"{name} num_cpus sizes the embedded local Ray; it cannot be combined "
                         f"with address {out['address']!r} (the cluster has its own CPUs)")
    return RayOptions(**out)


SLURM_KEYS = ["cluster", "partition", "time", "gpus_per_run", "cpus_per_run", "mem_gb",
              "array_parallelism", "account", "qos", "constraint", "setup", "additional",
              "max_requeues"]
RAY_KEYS = ["address", "num_cpus", "cpus_per_run", "gpus_per_run"]


def backend_from_table(t: Any) -> BackendConfig:
    """Validate a study file's ``[backend]`` table (absent: ``{}``, the local backend)."""
    if not isinstance(t, dict):
        raise ValueError(f"[backend] must be a table, got {t!r}")
    bad = sorted(set(t) - {"name", "slurm", "ray"})
    if bad:
        raise ValueError(f"unknown [backend] keys {bad}; expected name, slurm, ray")
    name = t.get("name", "local")
    if name not in BACKENDS:
        raise ValueError(f"[backend] name must be one of {list(BACKENDS)}, got {name!r}")
    for sub in ("slurm", "ray"):
        if not isinstance(t.get(sub, {}), dict):
            raise ValueError(f"[backend.{sub}] must be a table, got {t[sub]!r}")
    return BackendConfig(name, _slurm(t.get("slurm", {})), _ray(t.get("ray", {})))


#: CLI flag -> (the backends it applies to, the study-file key it sets)
FLAGS = {
    "partition": (("slurm",), "partition"),
    "time": (("slurm",), "time"),
    "array_parallelism": (("slurm",), "array_parallelism"),
    "gpus_per_run": (("slurm", "ray"), "gpus_per_run"),
    "cpus_per_run": (("slurm", "ray"), "cpus_per_run"),
    "address": (("ray",), "address"),
    "num_cpus": (("ray",), "num_cpus"),
}


def with_overrides(cfg: BackendConfig, name: str | None = None,
                   **flags: Any) -> BackendConfig:
    """``cfg`` with the CLI's choices applied: ``name`` (``--backend``) and the flags of
    :data:`FLAGS` (None: not given), each validated as in the study file. A flag of another
    backend is an error naming it."""
    name = cfg.name if name is None else name
    if name not in BACKENDS:
        raise ValueError(f"--backend must be one of {list(BACKENDS)}, got {name!r}")
    given = {k: v for k, v in flags.items() if v is not None}
    unknown = sorted(set(given) - set(FLAGS))
    if unknown:
        raise TypeError(f"unknown backend flags {unknown}; expected {sorted(FLAGS)}")
    opts = {"slurm": _table(cfg.slurm), "ray": _table(cfg.ray)}
    for k, v in given.items():
        where, key = FLAGS[k]
        if name not in where:
            raise ValueError(f"--{k.replace('_', '-')} applies to --backend "
                             f"{' or '.join(where)}, not {name}")
        opts[name][key] = v
    return BackendConfig(name, _slurm(opts["slurm"]), _ray(opts["ray"]))


def _table(o: SlurmOptions | RayOptions) -> dict[str, Any]:
    """Options back to their study-file keys (only those differing from the defaults)."""
    d = {f.name: getattr(o, f.name) for f in dataclasses.fields(o)
         if getattr(o, f.name) != f.default and not (
             f.default_factory is not dataclasses.MISSING  # type: ignore[misc]
             and getattr(o, f.name) == f.default_factory())}  # type: ignore[misc]
    if "time_min" in d:
        d["time"] = d.pop("time_min")
    if "setup" in d:
        d["setup"] = list(d["setup"])
    return d
