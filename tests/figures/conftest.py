"""Fixtures for the figure tests: a tiny synthetic study directory in the format of
``docs/formats.md#study-directory``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.figures.helpers import write_study


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    return write_study(tmp_path / "study")
