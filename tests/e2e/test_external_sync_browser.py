"""The remote client's page measured from outside: ``scripts/external-sync --designs browser`` starts Xorg
(dummy driver, two monitors) and a JACK dummy server, invites a session on the system clock, opens the
link in headed Chromium full screen on the client monitor (its sound to JACK through the ALSA jack
plugin), taps "Allow sound", runs an endless set, and records the client screen's strip and Chromium's
JACK ports with one ffmpeg process.

The test checks that what the browser really showed and really played was recorded: one target in the
strip in nearly every grab, the tone in both channels, the two moving together across the page's sweep
(the standard look: 85 % of the 1920-px screen about its centre), an offset that came out, and that the
page's set ran through the recording without refusing anything. The offset's size is the benchmark's
business (docs/benchmarks.md), not this test's.

Needs ffmpeg (x11grab and jack inputs), jackd2, Xorg's dummy driver with openbox, Chromium at
/usr/bin/chromium, the ALSA jack plugin (libasound2-plugins) and Playwright; skips when missing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from bls.bench import browser, recorder, xdesk

from .conftest import REPO, base_env

pytestmark = pytest.mark.e2e

SECONDS = 8.0
GRAB_HZ = 229  # what the script asks of x11grab


def test_external_sync_records_the_browser_page_and_finds_the_target_and_the_tone(tmp_path):
    why = recorder.missing_tools() or xdesk.missing() or recorder.ffmpeg_has_inputs() or browser.missing()
    if why:
        pytest.skip(why)
    out = tmp_path / "ext.json"
    proc = subprocess.run([str(REPO / "scripts" / "external-sync"), "--designs", "browser", "--seconds",
                           str(SECONDS), "--settle", "3", "--json", str(out), "--keep", str(tmp_path / "work")],
                          env=base_env(BLS_PY=sys.executable), cwd=REPO, capture_output=True, text=True, timeout=300)
    if proc.returncode == 2 and "did not start" in proc.stderr:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr
    (res,) = json.loads(out.read_text())["results"]
    a = res["analysis"]
    assert res["design"] == "browser" and res["display_kind"].startswith("browser canvas: Chromium"), res
    assert res["alive_through_recording"], res["log_tail"]
    # the page's set ran, on its audio clock, through the recording, and nothing was refused
    page = res["page"]
    assert page is not None and page["clock_running"] >= 1, res
    assert page["set_state"] == "running", page
    assert page["invalid"] == 0 and page["errors"] == 0, page
    assert page["page_errors"] == [], page  # no uncaught error in the page's scripts
    # the strip was grabbed all along, and nearly every grab shows one whole target
    assert a["grabs"] >= 0.8 * SECONDS * GRAB_HZ, a
    assert a["grabs_valid"] >= 0.9 * a["grabs"], a
    # what Chromium played reached JACK (both channels, not silence) and the picture moved with it
    assert a["sound_windows"] >= 0.8 * SECONDS * 1000, a  # 1 ms envelope windows with sound
    assert a["onsets"] >= 10 * SECONDS, a
    assert a["correlation"] > 0.99, a
    # the page draws where bls draws: 85 % of 1920 px swept about the screen's centre (the window is
    # full screen on the client monitor)
    assert a["half_width_px"] == pytest.approx(0.85 * 1920 / 2, abs=24), a
    assert a["centre_px"] == pytest.approx(1920 / 2, abs=24), a
    for key in ("offset_ms", "window_mean_ms", "onset_sd_ms", "frame_interval_p50_ms"):
        assert a[key] is not None and math.isfinite(a[key]), (key, a)
    assert a["windows"] >= 2, a
    assert "A/V offset measured from outside" in proc.stdout, proc.stdout
    assert "the page's own figures" in proc.stdout, proc.stdout
