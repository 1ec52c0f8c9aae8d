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


try:  # torch's global state at startup, restored after every test (the theory tests need no torch)
    import torch as _torch

    _TORCH_GLOBALS = (_torch.get_num_threads(), _torch.are_deterministic_algorithms_enabled())
except ImportError:  # pragma: no cover
    _torch = None


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    """Tests must not leak torch's global thread count or deterministic mode into later tests
    (a run with ``num_threads=1`` changes the bits of every later float reduction). Restored
    to the values at startup, also after module-scoped fixtures that trained a run."""
    if _torch is not None:
        _torch.set_num_threads(_TORCH_GLOBALS[0])
        _torch.use_deterministic_algorithms(_TORCH_GLOBALS[1])
    yield
    if _torch is not None:
        _torch.set_num_threads(_TORCH_GLOBALS[0])
        _torch.use_deterministic_algorithms(_TORCH_GLOBALS[1])


def pytest_addoption(parser):
    parser.addini("heavy_tests", "node-id prefixes marked 'heavy': default-run tests that train, "
                  "build figures or run the CLI end to end (the quick subset, -m 'not slow and "
                  "not heavy', leaves them out)", type="linelist", default=[])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the tests listed in ``[tool.pytest.ini_options] heavy_tests`` (pyproject.toml)."""
    prefixes = tuple(config.getini("heavy_tests"))
    for item in items:
        if prefixes and item.nodeid.startswith(prefixes):
            item.add_marker(pytest.mark.heavy)
