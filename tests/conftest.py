"""Shared pytest configuration: hypothesis profiles and seeds.

Profiles (select with HYPOTHESIS_PROFILE=...; the default is ``ci``):
    ci        derandomized, 60 examples, no deadline, no example database: reproducible on any
              machine and free of timing flakiness.
    thorough  2000 random examples, no deadline: for local fuzzing runs.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded generator per test (seed 0) so tests never depend on order."""
    return np.random.default_rng(0)
