"""group_size in the run configuration: validated, part of the identity only when set (so every
earlier run keeps its hash), and the ``groups`` study preset builds its 15 cells."""

from __future__ import annotations

import pytest

from qopt.study import PRESETS, parse_toml, study_from_dict
from qopt.train.config import TrainConfig
from qopt.train.identity import config_hash, identity


def test_group_size_identity_and_validation():
    base = TrainConfig(method="binaryconnect", weights="int:4", axis=0)
    ident = identity(base.to_dict())
    assert "group_size" not in ident  # unset: the identity of a run from before the field
    g16 = TrainConfig(method="binaryconnect", weights="int:4", axis=0, group_size=16)
    g32 = TrainConfig(method="binaryconnect", weights="int:4", axis=0, group_size=32)
    hashes = {config_hash(identity(c.to_dict())) for c in (base, g16, g32)}
    assert len(hashes) == 3
    g16.validate()
    for bad, exc in [(0, ValueError), (2.5, TypeError)]:
        with pytest.raises(exc, match="group_size"):
            TrainConfig(method="binaryconnect", weights="int:4", group_size=bad).validate()
    with pytest.raises(ValueError, match="group_size"):
        TrainConfig(method="float", group_size=16).validate()
    TrainConfig(method="parq", weights="uint:4", group_size=32).validate()
    TrainConfig(method="bcgd", weights="nf4", group_size=64).validate()


def test_groups_preset_cells():
    st = study_from_dict(parse_toml(PRESETS["groups"]))
    cells = st.cells
    assert len(cells) == 15
    assert {c.config.weights for c in cells} == {"int:4", "uint:2", "nf4"}
    assert all(c.config.group_size == 16 and c.config.axis == 0 for c in cells)
    for c in cells:
        c.config.validate()
