"""``benchmarks/gpu_check.sh`` (issue 22 item 5): the one-shot GPU check parses, and its CPU
smoke mode (``DRY_RUN=1``) runs every stage to the end with each stage's status in the log.
The real run needs a CUDA GPU (documented in BENCHMARKS.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_script_parses() -> None:
    r = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                    reason="needs bash and coreutils timeout")
def test_dry_run_reports_every_stage(tmp_path: Path) -> None:
    log = tmp_path / "gpu_check.log"
    env = {**os.environ, "DRY_RUN": "1", "LOG": str(log), "TMPDIR": str(tmp_path),
           "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                       timeout=600)
    text = log.read_text()
    summary = text[text.index("=== summary"):]
    for stage in ("env", "tests", "proj", "step", "compile", "thru"):
        assert f"  {stage} " in summary, f"stage {stage} missing from the summary"
    assert r.returncode == 0, summary
    assert (tmp_path / "compile_check.json").exists() or any(tmp_path.glob("*/compile_check.json"))
