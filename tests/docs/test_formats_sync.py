"""``docs/formats.md`` names every file and key the trainer and the study runner write.

A tiny run (``qopt train``: BinaryRelax, ternary weights, 2-bit activations, scikit-learn's 8x8
digits, 2 epochs) and a tiny study (``qopt study``: float and BCGD, 2 seeds, 1 epoch) are made
through the command line, and every file name, JSON key, record kind, metrics key, checkpoint key
and export-entry key they contain must appear in ``docs/formats.md`` as inline code
(```` `key` ````). Per-tensor diagnostics keys ``NAME/<metric>`` are checked as
``NAME/<metric>``; CSV columns ``<metric>_mean`` / ``_std`` through the metric's name and the
``<metric>_mean`` pattern. ``config.json`` repeats the ``TrainConfig`` fields, which the page
documents by reference; only the keys added to them are checked.

When this fails after a code change, the page is out of date: document the new key there.
About 10 s of CPU.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ROOT / "docs" / "formats.md"
COMMON = ["--dataset", "digits", "--model", "cnn2d", "--model-args", "{channels=[4,8]}",
          "--batch-size", "256", "--num-threads", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def documented() -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", FORMATS.read_text(encoding="utf-8")))


def _missing(keys: object, documented: set[str]) -> list[str]:
    out = []
    for k in keys:  # type: ignore[union-attr]
        k = str(k)
        if "/" in k:  # NAME/<metric>
            k = "NAME/" + k.rsplit("/", 1)[1]
        m = re.fullmatch(r"(\w+)_(mean|std)", k)
        if k in documented or (m and m.group(1) in documented
                               and f"<metric>_{m.group(2)}" in documented):
            continue
        out.append(k)
    return out


def _check(keys: object, documented: set[str], what: str) -> None:
    missing = _missing(keys, documented)
    assert not missing, (f"{what}: {missing} not named in docs/formats.md; the code writes them "
                         "now: describe them there (as `key`)")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from qopt.cli import main

    out = tmp_path_factory.mktemp("formats") / "run"
    code = main(["train", "--out", str(out), "--no-progress", *COMMON, "--epochs", "2",
                 "--method", "binaryrelax", "--weights", "ternary", "--act-bits", "2",
                 "--log-every", "3", "--diag-every", "3"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from qopt.cli import main

    base = tmp_path_factory.mktemp("formats_study")
    toml = base / "tiny.toml"
    toml.write_text(
        '[study]\nname = "tiny"\nworkers = 1\n\n'
        '[base]\ndataset = "digits"\nmodel = "cnn2d"\nmodel_args = { channels = [4, 8] }\n'
        'epochs = 1\nbatch_size = 256\nnum_threads = 1\ndevice = "cpu"\ndiag_every = 2\n\n'
        '[grid]\nmethod = ["float", "bcgd"]\nweights = ["binary"]\nseed = [0, 1]\n',
        encoding="utf-8")
    out = base / "out"
    assert main(["study", str(toml), "--out", str(out), "--workers", "1"]) == 0
    return out


def test_run_directory_files_are_documented(run_dir: Path, documented: set[str]) -> None:
    names = [p.name for p in run_dir.iterdir()]
    assert {"config.json", "metrics.jsonl", "result.json", "model.pt"} <= set(names)
    _check([n + ("/" if (run_dir / n).is_dir() else "") for n in names
           if n != "tb"], documented, "run directory files")


def test_config_json_additions_are_documented(run_dir: Path, documented: set[str]) -> None:
    from qopt.train.config import TrainConfig

    cfg = json.loads((run_dir / "config.json").read_text())
    fields = set(TrainConfig.__dataclass_fields__)
    assert fields <= set(cfg)
    _check(sorted(set(cfg) - fields), documented, "config.json keys")
    _check(sorted(cfg["data"]), documented, "config.json data keys")


def test_metrics_records_are_documented(run_dir: Path, study_dir: Path,
                                        documented: set[str]) -> None:
    keys: set[str] = set()
    kinds: set[str] = set()
    for path in [run_dir / "metrics.jsonl", *study_dir.glob("runs/*/metrics.jsonl")]:
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            kinds.add(rec["type"])
            keys.update(rec)
    assert {"train", "eval", "diag"} <= kinds
    assert any("/" in k for k in keys), "no per-tensor diagnostics were logged"
    _check(sorted(kinds), documented, "record kinds")
    _check(sorted(keys), documented, "metrics keys")


def test_checkpoint_and_exports_are_documented(run_dir: Path, documented: set[str]) -> None:
    from qopt.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run_dir)
    assert ckpt is not None
    _check(sorted(k for k in ckpt if not k.startswith("_")), documented, "checkpoint keys")
    exported = torch.load(run_dir / "quantized.pt", weights_only=True)
    assert exported
    _check(sorted({k for e in exported.values() for k in e}), documented, "quantized.pt entry keys")


def test_result_json_is_documented(run_dir: Path, documented: set[str]) -> None:
    res = json.loads((run_dir / "result.json").read_text())
    _check(sorted(res), documented, "result.json keys")
    _check(sorted(res["final"]), documented, "result.json final keys")
    _check(sorted({k for h in res["history"] for k in h}), documented, "result.json history keys")


def test_study_directory_is_documented(study_dir: Path, documented: set[str]) -> None:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in study_dir.iterdir())
    assert {"results.csv", "results.json", "curves.json", "study.toml", "runs/"} <= set(names)
    _check([n for n in names if n != "runs/"], documented, "study directory files")
    with open(study_dir / "results.csv", newline="") as fh:
        columns = next(csv.reader(fh))
    grid = {"method", "weights"}
    _check([c for c in columns if c not in grid], documented, "results.csv")
    res = json.loads((study_dir / "results.json").read_text())
    _check(sorted(res), documented, "results.json")
    _check(sorted({k for r in res["rows"] for k in r} - grid), documented,
           "results.json rows keys")
    _check(sorted({k for r in res["runs"] for k in r} - grid - {"seed"}), documented,
           "results.json runs keys")
    curves = json.loads((study_dir / "curves.json").read_text())
    _check(sorted({k for c in curves.values() for k in c}), documented, "curves.json keys")
