"""The identity record of a requested run, the default run-directory name, and the check of a
run directory against a request (:mod:`qopt.train.identity` defines what is compared).

``config.json`` = every TrainConfig field + ``method_config`` (the method's resolved arguments)
+ ``init`` (``from``, ``file``, ``sha256``, and the parent run's ``config_hash`` when
``init_from`` is a run directory) + ``config_hash`` + facts recorded when training starts
(``data`` with its ``sha256``, ``world_size``, ``device_resolved``, ``amp_resolved``,
``steps_per_epoch``, ``tensors``, ``versions``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from qopt.train.config import TrainConfig
from qopt.train.identity import (
    IDENTITY_VERSION,
    RunConflict,
    config_diff,
    config_hash,
    conflict_message,
    identity,
)


def run_record(cfg: TrainConfig) -> dict[str, Any]:
    """The identity part of ``config.json`` for ``cfg`` (fields, method_config, init, hash)."""
    from qopt.train.methods import method_config
    from qopt.train.setup import file_sha256, init_file, make_method

    rec: dict[str, Any] = cfg.to_dict()
    rec["method_config"] = method_config(make_method(cfg))
    init_sha = None
    if cfg.init_from:
        path = init_file(cfg.init_from)
        init_sha = file_sha256(path)
        rec["init"] = {"from": cfg.init_from, "file": str(path), "sha256": init_sha,
                       "config_hash": _parent_hash(path)}
    rec["config_hash"] = config_hash(identity(rec, rec["method_config"], init_sha))
    rec["identity_version"] = IDENTITY_VERSION
    return rec


def _parent_hash(model_file: Path) -> str | None:
    cfg = model_file.parent / "config.json"
    if model_file.name == "model.pt" and cfg.is_file():
        try:
            return json.loads(cfg.read_text(encoding="utf-8")).get("config_hash")
        except (OSError, ValueError):
            return None
    return None


def default_run_name(cfg: TrainConfig, record: dict[str, Any] | None = None) -> str:
    """``<dataset>-<model>-<method>-<weights>-seed<seed>-<hash>``: readable, and unique per
    identity (the hash covers every identity field, lr and epochs included)."""
    rec = record or run_record(cfg)
    model = re.sub(r"[^A-Za-z0-9_.]+", "_", cfg.model.split(":")[-1])
    weights = (cfg.weights or "fp").replace(":", "")
    return (f"{cfg.dataset}-{model}-{cfg.method}-{weights}-seed{cfg.seed}-"
            f"{rec['config_hash']}")


def check_run_dir(run_dir: Path, record: dict[str, Any], resume: bool) -> dict | None:
    """Compare a request with what ``run_dir`` holds.

    Returns the finished result (``result.json``, verified against ``manifest.json``:
    :func:`qopt.train.manifest.read_finished`) when the directory holds a finished run of the
    same identity and ``resume`` is set; None when training should (re)start or resume.

    Raises:
        RunConflict: the directory holds a run of another identity (and ``resume`` is set:
            ``resume=False`` replaces it), or a ``result.json`` without ``config.json``.
        RunDamaged: the finished run's files are not the ones it wrote (named).
    """
    cfg_path, res_path = run_dir / "config.json", run_dir / "result.json"
    if not cfg_path.exists():
        if res_path.exists() and resume:
            raise RunConflict(f"run directory {str(run_dir)!r} has result.json but no "
                              "config.json (damaged); use another --out or --no-resume")
        return None
    try:
        old = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunConflict(f"run directory {str(run_dir)!r}: config.json unreadable ({exc}); "
                          "use another --out or --no-resume") from None
    if not isinstance(old, dict):
        raise RunConflict(f"run directory {str(run_dir)!r}: config.json is not a table")
    if not resume:
        return None
    diffs = config_diff(old, record)
    if diffs:
        what = "finished run" if res_path.exists() else "run (cannot resume it)"
        raise RunConflict(conflict_message(
            str(run_dir), diffs, "use --out DIR for a new run, or --no-resume to replace it",
            what))
    if res_path.exists():
        from qopt.train.manifest import read_finished

        own = old.get("config_hash")
        return read_finished(run_dir, own if isinstance(own, str) else "<none>")
    return None


def check_data_location(cfg: TrainConfig, run_dir: Path) -> None:
    """A finished run requested with another ``data_dir``: the data there must be the same
    (same SHA-256) for the stored result to answer the request."""
    old = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    if old.get("data_dir") == cfg.data_dir:
        return
    from qopt.train.data import load_run_data
    from qopt.train.finish import data_sha256

    want = (old.get("data") or {}).get("sha256")
    got = data_sha256(load_run_data(cfg))
    if want != got:
        raise RunConflict(f"run directory {str(run_dir)!r} was trained on different data "
                          f"(sha256 {str(want)[:12]} vs {got[:12]} in data_dir "
                          f"{cfg.data_dir!r}); use another --out")


def check_resume_facts(run_dir: Path, old: dict[str, Any], facts: dict[str, Any],
                       data_sha: str) -> None:
    """A resume must continue the same arithmetic on the same data: the resolved bf16 autocast,
    the steps per epoch and the data's SHA-256 recorded when the run started must hold now
    (:class:`RunConflict` otherwise)."""
    for key, what in (("amp_resolved", "bf16 autocast"), ("steps_per_epoch", "steps per epoch")):
        if key in old and old[key] != facts[key]:
            raise RunConflict(f"cannot resume {str(run_dir)!r}: {what} was {old[key]!r}, now "
                              f"{facts[key]!r}; use --no-resume or another --out")
    want = (old.get("data") or {}).get("sha256")
    if want is not None and want != data_sha:
        raise RunConflict(f"cannot resume {str(run_dir)!r}: the data changed (sha256 "
                          f"{want[:12]} recorded); use --no-resume or another --out")
