"""Unit-test settings: a modest hypothesis profile so the whole unit suite stays fast.

``BLS_HYPOTHESIS_PROFILE=thorough pytest tests/unit`` runs many more examples (for a soak before a
release); the default keeps every property test to a handful of examples without a deadline
(renders take tens of milliseconds and a deadline would only measure the machine).
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "bls-unit", max_examples=12, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", max_examples=300, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("BLS_HYPOTHESIS_PROFILE", "bls-unit"))


import pytest  # noqa: E402


@pytest.fixture
def whole_history(monkeypatch):
    """Keep every snapshot of a run: for tests that look back over a whole set after it ended (the
    engine keeps only HISTORY_S of stimulus time, what a display needs; test_history checks that)."""
    from bls.core import engine

    monkeypatch.setattr(engine, "HISTORY_S", 1e9)
