"""The identity record of a requested run, the default run-directory name, and the check of a
run directory against a request (:mod:`qopt.train.identity` defines what is compared).

``config.json`` = every TrainConfig field + ``method_config`` (the method's resolved arguments)
+ ``init`` (``from``, ``file``, ``sha256``, and the parent run's ``config_hash`` when
``init_from`` is a run directory) + ``config_hash`` + facts recorded when training starts
(``data`` with its ``sha256``, ``world_size``, ``device_resolved``, ``amp_resolved``,
``steps_per_epoch``, ``tensors``, ``versions``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from qopt.io import read_json_file
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
            return read_json_file(cfg).get("config_hash")
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
        old = read_json_file(cfg_path, f"{str(cfg_path)!r}")
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
        res = read_finished(run_dir, own if isinstance(own, str) else "<none>")
        why = result_problem(res)
        if why:
            raise RunConflict(f"{str(res_path)!r} is damaged ({why}); {_DAMAGED_HINT}")
        return res
    return None


def read_result(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``RUN_DIR/result.json`` of a finished run, checked to be one: its files verified against
    ``manifest.json`` and the identity of ``config.json``
    (:func:`qopt.train.manifest.read_finished_run`), and its ``final`` evaluation, ``epochs``,
    ``steps`` and ``wall_s`` of the types the reports use. Anything else (a torn, edited or
    emptied file, a changed ``model.pt``) is a ``ValueError`` (:class:`RunConflict` or
    :class:`~qopt.train.manifest.RunDamaged`), one line naming the file, never a ``KeyError``
    while printing it.

    Raises:
        RunConflict, RunDamaged: damaged; ``FileNotFoundError``: no ``result.json``.
    """
    from qopt.train.manifest import read_finished_run

    path = Path(run_dir) / "result.json"
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    res = read_finished_run(run_dir)
    why = result_problem(res)
    if why:
        raise RunConflict(f"{str(path)!r} is damaged ({why}); {_DAMAGED_HINT}")
    return res


def finished(run_dir: str | os.PathLike) -> bool:
    """``run_dir`` holds a finished run: a ``result.json`` that :func:`read_result` accepts (a
    damaged one is not finished: rerunning it reports the damage, one line)."""
    try:
        read_result(run_dir)
    except (OSError, ValueError):
        return False
    return True


_DAMAGED_HINT = "rerun with --no-resume to train the run again, or restore the file"


def _number(v: Any, nullable: bool = False) -> bool:
    return (v is None and nullable) or (isinstance(v, (int, float)) and not isinstance(v, bool))


def result_problem(res: Any) -> str | None:
    """What makes ``res`` not a finished run's result (None when it is one)."""
    if not isinstance(res, dict):
        kind = {type(None): "null", list: "an array", str: "a string", bool: "a boolean",
                int: "a number", float: "a number"}.get(type(res), type(res).__name__)
        return f"JSON {kind}, not an object"
    fin = res.get("final")
    if not isinstance(fin, dict):
        return "no 'final' evaluation"
    for k in ("test_loss", "train_loss"):
        if not _number(fin.get(k), nullable=True):
            return f"final {k} is {fin.get(k)!r}, not a number"
    if not _number(fin.get("test_acc"), nullable=True):
        return f"final test_acc is {fin.get('test_acc')!r}, not a number"
    for k in ("epochs", "steps"):
        if not isinstance(res.get(k), int) or isinstance(res.get(k), bool) or res[k] < 0:
            return f"{k} is {res.get(k)!r}, not a count"
    if not _number(res.get("wall_s")):
        return f"wall_s is {res.get('wall_s')!r}, not a number"
    if not isinstance(res.get("history"), list):
        return "no 'history' list"
    raw = res.get("final_raw")
    if raw is not None and not isinstance(raw, dict):
        return "final_raw is not an object"
    return None


def check_data_location(cfg: TrainConfig, run_dir: Path) -> None:
    """A finished run requested with another ``data_dir``: the data there must be the same
    (same SHA-256) for the stored result to answer the request."""
    old = read_json_file(run_dir / "config.json")
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
