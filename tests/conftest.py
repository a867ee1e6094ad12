"""Shared test set-up: headless Qt with two named screens, and a private config directory per test."""

import json
import os
import tempfile

SCREENS = {"screens": [
    {"name": "THERAPIST", "x": 0, "y": 0, "width": 1280, "height": 720, "logicalDpi": 96, "logicalBaseDpi": 96,
     "dpr": 1},
    {"name": "CLIENT", "x": 1280, "y": 0, "width": 1920, "height": 1080, "logicalDpi": 96, "logicalBaseDpi": 96,
     "dpr": 1}], "windowFrameMargins": False}

_screens_file = os.path.join(tempfile.mkdtemp(prefix="bls-tests-"), "screens.json")
with open(_screens_file, "w", encoding="utf-8") as fh:
    json.dump(SCREENS, fh)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_screens_file}")
os.environ.setdefault("BLS_SCREENS_FILE", _screens_file)
# The app never plays through this machine's sound card during tests: a device that does not exist
# gives the same "no sound" path on every machine (tests that need a stream name their own device).
os.environ["BLS_AUDIO_DEVICE"] = "bls-test-no-such-device"

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def private_config_dir(tmp_path, monkeypatch):
    """No test reads or writes the real user's presets, UI state or session records."""
    cfg = tmp_path / "config"
    monkeypatch.setenv("BLS_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("BLS_DATA_DIR", str(tmp_path / "data"))
    return cfg
