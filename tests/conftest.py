"""Shared test set-up: headless Qt, and a private config directory for every test."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def private_config_dir(tmp_path, monkeypatch):
    """No test reads or writes the real user's presets or UI state."""
    cfg = tmp_path / "config"
    monkeypatch.setenv("BLS_CONFIG_DIR", str(cfg))
    return cfg
