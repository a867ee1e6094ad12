"""Fixtures for the end-to-end tests: subprocess environments, the ALSA file tap, named screens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ALSA_CONF = Path("/usr/share/alsa/alsa.conf")

#: an ALSA PCM "tap" that records exactly what is played into it (raw interleaved samples) into the
#: file named by $BLS_AUDIO_TAP, on top of the "null" device (no sound card needed; runs faster than
#: real time)
TAP_CONF = ('pcm.tap { type file slave.pcm "null" '
            'file { @func getenv vars [ BLS_AUDIO_TAP ] default "/dev/null" } format "raw" }\n')

SCREENS = {
    "screens": [
        {"name": "THERAPIST", "x": 0, "y": 0, "width": 1280, "height": 720,
         "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1},
        {"name": "CLIENT", "x": 1280, "y": 0, "width": 1920, "height": 1080,
         "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1},
    ],
    "windowFrameMargins": False,
}


def bls_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m bls``."""
    script = Path(sys.executable).with_name("bls")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bls"]


def base_env(**extra: str) -> dict[str, str]:
    """The test's environment (BLS_CONFIG_DIR is the test's private one) plus ``extra``."""
    env = dict(os.environ)
    env.pop("BLS_AUDIO_TAP", None)
    env["PYTHONFAULTHANDLER"] = "1"  # a crash in a child shows a stack, not just a signal number
    env.update(extra)
    return env


def run(cmd: list[str], env: dict[str, str], timeout: float, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout)


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


@pytest.fixture
def alsa_tap(tmp_path):
    """(env for a child that opens device 'tap', path of the raw float32 stereo recording)."""
    if not ALSA_CONF.exists():
        pytest.skip("no ALSA configuration (/usr/share/alsa/alsa.conf): not a Linux/ALSA machine")
    conf = tmp_path / "bls-tap.conf"
    conf.write_text(TAP_CONF)
    raw = tmp_path / "tap.raw"
    # the Python-callback path: the null device behind the tap runs faster than real time, which no
    # ring filled ahead of a device can keep up with (tests/e2e/test_ring_clock.py paces its tap by JACK)
    env = base_env(ALSA_CONFIG_PATH=f"{ALSA_CONF}:{conf}", BLS_AUDIO_TAP=str(raw), BLS_AUDIO_PATH="callback")
    return env, raw


#: Qt's offscreen plugin adds the configured screens in the order of their names and the first one added
#: becomes the primary screen: with SCREENS that is CLIENT (C < T), not THERAPIST. This layout has the
#: therapist's screen first by name, so it is primary, as on a real desk (client on the second monitor).
SCREENS_THERAPIST_PRIMARY = {
    "screens": [dict(SCREENS["screens"][0], name="Built-in Display"), SCREENS["screens"][1]],
    "windowFrameMargins": False,
}


def _offscreen_env(tmp_path: Path, layout: dict) -> dict[str, str]:
    cfg = tmp_path / "screens.json"
    cfg.write_text(json.dumps(layout))
    return base_env(QT_QPA_PLATFORM=f"offscreen:configfile={cfg}")


@pytest.fixture
def screens_env(tmp_path):
    """Environment for the app: offscreen Qt with two named screens, THERAPIST and CLIENT (CLIENT is the
    primary one, see SCREENS_THERAPIST_PRIMARY)."""
    return _offscreen_env(tmp_path, SCREENS)


@pytest.fixture
def desk_screens_env(tmp_path):
    """Offscreen Qt with the therapist's 'Built-in Display' primary and a second screen named CLIENT."""
    return _offscreen_env(tmp_path, SCREENS_THERAPIST_PRIMARY)
